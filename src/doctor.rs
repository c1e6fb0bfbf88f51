//! `wschat doctor`: everything a deploy needs, checked without changing
//! anything, each failure with its fix.

use crate::aws::{self, AwsConfig};
use crate::build::toolchain::Builder;
use crate::spec::Arch;
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How long an endpoint may take to accept a connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// What was found, or what is wrong.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn failed(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Whether `wschat deploy` would work from here.
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark}  {:<24} {}", c.name, c.detail)?;
            if let Some(fix) = &c.fix {
                writeln!(f, "        fix: {fix}")?;
            }
        }
        match self.ready {
            true => write!(f, "\nready: `wschat deploy` has what it needs"),
            false => write!(
                f,
                "\nnot ready: fix the lines marked FAIL, then run `wschat doctor` again"
            ),
        }
    }
}

fn build_checks(cwd: &Path, arch: Arch, builder: Builder) -> Vec<Check> {
    crate::build::readiness(cwd, arch, builder)
        .into_iter()
        .map(|need| match need.found {
            Ok(detail) => Check::ok(need.name, detail),
            Err(e) => {
                let (message, hint) = e.parts();
                Check::failed(need.name, message, hint.unwrap_or_default())
            }
        })
        .collect()
}

/// `host:port` of an endpoint URL.
fn authority(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?']).next()?;
    if host.is_empty() {
        return None;
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']');
    Some(match (has_port, scheme) {
        (true, _) => host.to_owned(),
        (false, "http") => format!("{host}:80"),
        (false, _) => format!("{host}:443"),
    })
}

async fn reachable(authority: &str) -> Result<(), String> {
    match tokio::time::timeout(REACH_TIMEOUT, tokio::net::TcpStream::connect(authority)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", REACH_TIMEOUT.as_secs())),
    }
}

/// Each service deploy talks to, by the endpoint its client will use: the
/// same resolution as the SDK's (`--endpoint-url`, `AWS_ENDPOINT_URL_{SERVICE}`,
/// `AWS_ENDPOINT_URL`, the profile), else the region's standard endpoint.
fn endpoints(
    sdk: &aws_config::SdkConfig,
    region: &str,
    domain: bool,
) -> Vec<(&'static str, String)> {
    use wschat_lambdas::partition;
    // Label, the SDK's service id (which names AWS_ENDPOINT_URL_*), the endpoint's host prefix.
    let services = [
        ("DynamoDB", "DynamoDB", "dynamodb"),
        ("IAM", "IAM", "iam"),
        ("Lambda", "Lambda", "lambda"),
        ("API Gateway", "ApiGatewayV2", "apigateway"),
        ("CloudWatch Logs", "CloudWatch Logs", "logs"),
        ("CloudWatch", "CloudWatch", "monitoring"),
        ("SQS", "SQS", "sqs"),
        ("SNS", "SNS", "sns"),
        ("STS", "STS", "sts"),
        ("SSM", "SSM", "ssm"),
    ];
    // A custom domain's: ACM in the region, Route 53's one endpoint.
    let domain_services = [("ACM", "ACM", "acm"), ("Route 53", "Route 53", "route53")];
    let domain_services = if domain { &domain_services[..] } else { &[] };
    services
        .iter()
        .chain(domain_services)
        .map(|(label, service_id, host)| {
            let url = match (partition::configured_endpoint(sdk, service_id), *host) {
                (Some(url), _) => url,
                (None, "iam") => iam_endpoint(region, sdk.use_fips().unwrap_or(false)),
                (None, "route53") => format!("https://route53.{}", partition::dns_suffix(region)),
                (None, _) => partition::endpoint(sdk, service_id, host, region),
            };
            (*label, url)
        })
        .collect()
}

/// IAM is global: one endpoint per partition.
fn iam_endpoint(region: &str, fips: bool) -> String {
    match (wschat_lambdas::partition::partition(region), fips) {
        ("aws-cn", _) => "https://iam.cn-north-1.amazonaws.com.cn".to_owned(),
        ("aws-us-gov", _) => "https://iam.us-gov.amazonaws.com".to_owned(),
        ("aws", true) => "https://iam-fips.amazonaws.com".to_owned(),
        (_, _) => format!(
            "https://iam.{}",
            wschat_lambdas::partition::dns_suffix(region)
        ),
    }
}

async fn aws_checks(config: &AwsConfig, domain: Option<&str>) -> Vec<Check> {
    let quick = AwsConfig {
        timeout: config.timeout.min(Duration::from_secs(10)),
        ..config.clone()
    };
    let clients = match aws::connect(&quick).await {
        Ok(clients) => clients,
        Err(e) => {
            let (message, hint) = e.parts();
            let name = if message.contains("region") {
                "region"
            } else {
                "credentials"
            };
            return vec![Check::failed(name, message, hint.unwrap_or_default())];
        }
    };
    let mut checks = vec![
        Check::ok("region", clients.region.clone()),
        Check::ok("credentials", "found"),
    ];
    let mut all_reached = true;
    for (label, url) in endpoints(&clients.sdk, &clients.region, domain.is_some()) {
        let Some(at) = authority(&url) else {
            all_reached = false;
            checks.push(Check::failed(
                format!("{label} endpoint"),
                format!("'{url}' is not a URL"),
                "pass --endpoint-url as scheme://host[:port]",
            ));
            continue;
        };
        checks.push(match reachable(&at).await {
            Ok(()) => Check::ok(format!("{label} endpoint"), url),
            Err(why) => {
                all_reached = false;
                Check::failed(
                    format!("{label} endpoint"),
                    format!("{url}: {why}"),
                    "check the network, proxy and firewall, --region and --endpoint-url",
                )
            }
        });
    }
    if !all_reached {
        return checks;
    }
    let identity = clients.sts.get_caller_identity().send().await;
    let identified = identity.is_ok();
    checks.push(match identity {
        Ok(me) => Check::ok(
            "identity",
            format!(
                "{} (account {})",
                me.arn.unwrap_or_default(),
                me.account.unwrap_or_default()
            ),
        ),
        Err(e) => {
            let error = aws::aws_error("STS GetCallerIdentity", "your credentials", &e);
            let (message, hint) = error.parts();
            Check::failed(
                "identity",
                message,
                hint.unwrap_or("renew or replace the credentials"),
            )
        }
    });
    if let (Some(domain), true) = (domain, identified) {
        checks.push(domain_check(&clients, domain).await);
    }
    checks
}

/// Which of the two DNS cases a deploy of `domain` meets.
async fn domain_check(clients: &aws::Clients, domain: &str) -> Check {
    match crate::stack::domain::dns::zone_for(clients, domain).await {
        Ok(Some(zone)) => Check::ok(
            "domain",
            format!("{domain}: Route 53 hosted zone {zone} serves it; deploy writes the validation and alias records"),
        ),
        Ok(None) => Check::ok(
            "domain",
            format!("{domain}: no public Route 53 hosted zone for it in this account; deploy prints the records to add at your DNS provider and waits for them (--no-wait returns)"),
        ),
        Err(e) => Check::failed(
            "domain",
            format!("{domain}: could not list the account's hosted zones: {}", e.parts().0),
            "grant route53:ListHostedZones (or deploy prints the records for your DNS provider)",
        ),
    }
}

pub async fn doctor(
    cwd: &Path,
    arch: Arch,
    builder: Builder,
    config: &AwsConfig,
    domain: Option<&str>,
) -> DoctorReport {
    let mut checks = build_checks(cwd, arch, builder);
    checks.extend(aws_checks(config, domain).await);
    DoctorReport {
        ready: checks.iter().all(|c| c.ok),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_found_by_region_or_taken_as_given() {
        assert_eq!(
            authority("http://127.0.0.1:5000"),
            Some("127.0.0.1:5000".into())
        );
        assert_eq!(
            authority("https://lambda.eu-west-1.amazonaws.com/"),
            Some("lambda.eu-west-1.amazonaws.com:443".into())
        );
        assert_eq!(authority("http://localhost"), Some("localhost:80".into()));
        assert_eq!(authority("nonsense"), None);
        let sdk = aws_config::SdkConfig::builder().build();
        let found = endpoints(&sdk, "eu-west-1", true);
        assert!(found.contains(&("Route 53", "https://route53.amazonaws.com".into())));
        assert!(found.contains(&("ACM", "https://acm.eu-west-1.amazonaws.com".into())));
        assert!(found.contains(&("IAM", "https://iam.amazonaws.com".into())));
        assert!(found.contains(&("Lambda", "https://lambda.eu-west-1.amazonaws.com".into())));
        let china = endpoints(&sdk, "cn-north-1", false);
        assert!(china.contains(&("SSM", "https://ssm.cn-north-1.amazonaws.com.cn".into())));
        let given = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        assert!(endpoints(&given, "eu-west-1", true)
            .iter()
            .all(|(_, url)| url == "http://127.0.0.1:5000"));
    }
}
