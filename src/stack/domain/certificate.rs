//! The domain's ACM certificate, in the API's region (a regional domain
//! name needs it there): requested with DNS validation and tagged as the
//! stack's, or the user's own (`--certificate-arn`), which is never deleted.

use super::dns::Record;
use crate::aws::json::{call, checked, failed};
use crate::error::{CliError, Result};
use crate::stack::{Ctx, Stack};
use serde_json::{json, Value};
use std::collections::HashMap;
use wschat_lambdas::json_api::ACM;

pub const ISSUED: &str = "ISSUED";
pub const PENDING: &str = "PENDING_VALIDATION";

/// A certificate as ACM describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Certificate {
    pub arn: String,
    pub domain: String,
    pub alternative_names: Vec<String>,
    /// `PENDING_VALIDATION`, `ISSUED`, `FAILED`, `VALIDATION_TIMED_OUT`, ...
    pub status: String,
    /// The CNAME ACM looks up for each name, once ACM has made it (a few
    /// seconds after the request).
    pub validation: Vec<Record>,
    pub tags: HashMap<String, String>,
}

impl Certificate {
    /// Whether it names `domain`, itself or by a wildcard one level up.
    pub fn covers(&self, domain: &str) -> bool {
        std::iter::once(&self.domain)
            .chain(&self.alternative_names)
            .any(|name| {
                name == domain
                    || name.strip_prefix("*.").is_some_and(|parent| {
                        domain
                            .split_once('.')
                            .is_some_and(|(_, rest)| rest == parent)
                    })
            })
    }

    /// Still usable: issued, or on its way to it.
    pub fn usable(&self) -> bool {
        self.status == ISSUED || self.status == PENDING
    }
}

fn from_description(arn: &str, c: &Value, tags: HashMap<String, String>) -> Certificate {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut validation: Vec<Record> = c["DomainValidationOptions"]
        .as_array()
        .map(|options| {
            options
                .iter()
                .filter_map(|o| {
                    let r = &o["ResourceRecord"];
                    Some(Record::cname(r["Name"].as_str()?, r["Value"].as_str()?))
                })
                .collect()
        })
        .unwrap_or_default();
    // A wildcard and its parent share one record.
    validation.dedup();
    Certificate {
        arn: arn.to_owned(),
        domain: c["DomainName"].as_str().unwrap_or_default().to_owned(),
        alternative_names: strings(&c["SubjectAlternativeNames"]),
        status: c["Status"].as_str().unwrap_or_default().to_owned(),
        validation,
        tags,
    }
}

/// The certificate at `arn` with its tags, if it exists.
pub async fn describe(stack: &Stack, arn: &str) -> Result<Option<Certificate>> {
    let input = json!({"CertificateArn": arn});
    let described = match call(&stack.clients, &ACM, "DescribeCertificate", &input, arn).await? {
        Ok(d) => d,
        Err(e) if e.code == "ResourceNotFoundException" => return Ok(None),
        Err(e) => return Err(failed(&ACM, "DescribeCertificate", arn, &e)),
    };
    let tags = match call(&stack.clients, &ACM, "ListTagsForCertificate", &input, arn).await? {
        Ok(t) => t["Tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| {
                        Some((
                            t["Key"].as_str()?.to_owned(),
                            t["Value"].as_str().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Err(e) if e.code == "ResourceNotFoundException" => return Ok(None),
        Err(e) => return Err(failed(&ACM, "ListTagsForCertificate", arn, &e)),
    };
    Ok(Some(from_description(arn, &described["Certificate"], tags)))
}

/// Every certificate of this stack (by its tags), for `domain` when given,
/// usable ones first.
pub async fn find_ours(stack: &Stack, domain: Option<&str>) -> Result<Vec<Certificate>> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut input = json!({"MaxItems": 100});
        if let Some(token) = &next {
            input["NextToken"] = token.clone().into();
        }
        let page = checked(
            &stack.clients,
            &ACM,
            "ListCertificates",
            &input,
            "the region's certificates",
        )
        .await?;
        for summary in page["CertificateSummaryList"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = summary["DomainName"].as_str().unwrap_or_default();
            if domain.is_none_or(|d| d == name) {
                arns.extend(summary["CertificateArn"].as_str().map(str::to_owned));
            }
        }
        match page["NextToken"].as_str() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => break,
        }
    }
    let described =
        futures_util::future::try_join_all(arns.iter().map(|arn| describe(stack, arn))).await?;
    let mut ours: Vec<Certificate> = described
        .into_iter()
        .flatten()
        .filter(|c| stack.spec.owns(&c.tags))
        .collect();
    ours.sort_by_key(|c| (c.status != ISSUED, c.status != PENDING));
    Ok(ours)
}

/// Asks ACM for a certificate of `domain`, validated by DNS. The token makes
/// a repeat of a request whose reply was lost return the same certificate.
pub async fn request(ctx: &Ctx<'_>, domain: &str) -> Result<String> {
    let tags: Vec<Value> = ctx
        .spec
        .tags()
        .into_iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    let input = json!({
        "DomainName": domain,
        "ValidationMethod": "DNS",
        "IdempotencyToken": idempotency_token(&ctx.spec.prefix(), domain),
        "Tags": tags,
    });
    let requested = checked(&ctx.clients, &ACM, "RequestCertificate", &input, domain).await?;
    requested["CertificateArn"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::failed(format!(
                "ACM RequestCertificate for {domain} named no certificate"
            ))
        })
}

/// ACM's token (`\w{1,32}`): the same for the same stack and domain, so
/// retries within the hour ACM keeps it meet the first request.
fn idempotency_token(prefix: &str, domain: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{prefix} {domain}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Deletes the certificate. API Gateway lets go of a deleted domain name's
/// certificate a little after the delete: ACM answers ResourceInUseException
/// until then, so this tries again for a while.
pub async fn delete(ctx: &Ctx<'_>, arn: &str) -> Result<()> {
    let input = json!({"CertificateArn": arn});
    let deadline = std::time::Instant::now() + IN_USE_FOR;
    loop {
        match call(&ctx.clients, &ACM, "DeleteCertificate", &input, arn).await? {
            Ok(_) => return Ok(()),
            Err(e) if e.code == "ResourceNotFoundException" => return Ok(()),
            Err(e) if e.code == "ResourceInUseException" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(failed(&ACM, "DeleteCertificate", arn, &e).with_hint(
                    "it is still in use (a domain name of API Gateway, a load balancer): `wschat teardown` again in a few minutes",
                ))
            }
        }
    }
}

/// How long a deleted domain name may keep its certificate in use.
const IN_USE_FOR: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_covers_its_names_and_one_level_under_a_wildcard() {
        let cert = Certificate {
            domain: "example.com".into(),
            alternative_names: vec!["example.com".into(), "*.example.com".into()],
            ..Certificate::default()
        };
        assert!(cert.covers("example.com"));
        assert!(cert.covers("chat.example.com"));
        assert!(!cert.covers("a.chat.example.com"));
        assert!(!cert.covers("example.org"));
        assert_eq!(idempotency_token("chat-prod", "chat.example.com").len(), 32);
    }

    #[test]
    fn the_validation_record_is_read_once_acm_has_made_it() {
        let described = json!({
            "DomainName": "chat.example.com", "Status": "PENDING_VALIDATION",
            "DomainValidationOptions": [
                {"DomainName": "chat.example.com", "ValidationStatus": "PENDING_VALIDATION"}
            ]
        });
        assert!(from_description("arn", &described, HashMap::new())
            .validation
            .is_empty());
        let described = json!({
            "DomainName": "chat.example.com", "Status": "PENDING_VALIDATION",
            "DomainValidationOptions": [{"DomainName": "chat.example.com", "ResourceRecord":
                {"Name": "_a1.chat.example.com.", "Type": "CNAME", "Value": "_b2.acm-validations.aws."}}]
        });
        let cert = from_description("arn", &described, HashMap::new());
        assert_eq!(
            cert.validation,
            [Record::cname(
                "_a1.chat.example.com",
                "_b2.acm-validations.aws"
            )]
        );
    }
}
