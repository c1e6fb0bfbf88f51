//! Which AWS partition a region belongs to, and the DNS names that follow
//! from it: China's regions are under `amazonaws.com.cn`, GovCloud's ARNs
//! say `aws-us-gov`. Every URL wschat prints or calls is built here.

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, `aws-iso-e` or `aws-iso-f`.
pub fn partition(region: &str) -> &'static str {
    match PARTITIONS.iter().find(|p| region.starts_with(p.prefix)) {
        Some(p) => p.name,
        None => "aws",
    }
}

/// The domain a region's endpoints are under.
pub fn dns_suffix(region: &str) -> &'static str {
    match PARTITIONS.iter().find(|p| region.starts_with(p.prefix)) {
        Some(p) => p.dns_suffix,
        None => "amazonaws.com",
    }
}

/// The domain of a region's dual-stack (IPv6) endpoints.
fn dual_stack_suffix(region: &str) -> &'static str {
    match partition(region) {
        "aws-cn" => "api.amazonwebservices.com.cn",
        "aws" | "aws-us-gov" => "api.aws",
        _ => dns_suffix(region),
    }
}

struct Partition {
    prefix: &'static str,
    name: &'static str,
    dns_suffix: &'static str,
}

/// Longer prefixes first: `us-isob-` before `us-iso-`.
const PARTITIONS: [Partition; 6] = [
    Partition {
        prefix: "cn-",
        name: "aws-cn",
        dns_suffix: "amazonaws.com.cn",
    },
    Partition {
        prefix: "us-gov-",
        name: "aws-us-gov",
        dns_suffix: "amazonaws.com",
    },
    Partition {
        prefix: "us-isob-",
        name: "aws-iso-b",
        dns_suffix: "sc2s.sgov.gov",
    },
    Partition {
        prefix: "us-isof-",
        name: "aws-iso-f",
        dns_suffix: "csp.hci.ic.gov",
    },
    Partition {
        prefix: "us-iso-",
        name: "aws-iso",
        dns_suffix: "c2s.ic.gov",
    },
    Partition {
        prefix: "eu-isoe-",
        name: "aws-iso-e",
        dns_suffix: "cloud.adc-e.uk",
    },
];

/// A regional service's standard endpoint, as the SDK's resolvers build it:
/// `https://{service}[-fips].{region}.{suffix}`.
pub fn service_endpoint(service: &str, region: &str, fips: bool, dual_stack: bool) -> String {
    let service = if fips {
        format!("{service}-fips")
    } else {
        service.to_owned()
    };
    let suffix = if dual_stack {
        dual_stack_suffix(region)
    } else {
        dns_suffix(region)
    };
    format!("https://{service}.{region}.{suffix}")
}

/// The endpoint configured for one service the way the SDK reads it: a
/// client-level `endpoint_url` wins; else `AWS_ENDPOINT_URL_{SERVICE}` (or the
/// profile's `services` section), else `AWS_ENDPOINT_URL` (or the profile's
/// `endpoint_url`). `None`: the service's standard endpoint.
pub fn configured_endpoint(sdk: &aws_config::SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|conf| conf.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Where one service's calls go: the configured endpoint, else the
/// standard one for the region, FIPS and dual-stack as configured.
pub fn endpoint(
    sdk: &aws_config::SdkConfig,
    service_id: &str,
    service: &str,
    region: &str,
) -> String {
    configured_endpoint(sdk, service_id).unwrap_or_else(|| {
        service_endpoint(
            service,
            region,
            sdk.use_fips().unwrap_or(false),
            sdk.use_dual_stack().unwrap_or(false),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_own_names() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
        assert_eq!(
            service_endpoint("ssm", "cn-northwest-1", false, false),
            "https://ssm.cn-northwest-1.amazonaws.com.cn"
        );
        assert_eq!(
            service_endpoint("ssm", "us-east-1", true, false),
            "https://ssm-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            service_endpoint("ssm", "eu-west-1", false, true),
            "https://ssm.eu-west-1.api.aws"
        );
    }

    #[test]
    fn a_configured_endpoint_is_the_sdks() {
        let plain = aws_config::SdkConfig::builder().build();
        assert_eq!(configured_endpoint(&plain, "SSM"), None);
        let given = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:5000")
            .build();
        assert_eq!(
            configured_endpoint(&given, "SSM").as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }
}
