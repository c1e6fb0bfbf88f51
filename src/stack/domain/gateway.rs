//! API Gateway's side of a custom domain: the regional domain name (its
//! certificate, TLS 1.2) and the API mappings on it.

use crate::aws::{all_pages, checked, or_absent};
use crate::error::Result;
use crate::stack::{Ctx, Stack};
use aws_sdk_apigatewayv2::types::{DomainNameConfiguration, EndpointType, SecurityPolicy};
use std::collections::HashMap;

/// A domain name as API Gateway has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainName {
    pub name: String,
    pub certificate_arn: String,
    /// `REGIONAL` (an edge-optimized name cannot serve WebSockets).
    pub endpoint_type: String,
    /// `TLS_1_2`.
    pub security_policy: String,
    /// Where DNS points: `d-abc123.execute-api.{region}.amazonaws.com`.
    pub target: String,
    /// The target's Route 53 zone, for alias records.
    pub target_zone: String,
    pub tags: HashMap<String, String>,
}

/// One API mapping: `key` on the domain serves `api_id`'s `stage`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub id: String,
    pub api_id: String,
    pub stage: String,
    /// Empty for the domain's root.
    pub key: String,
}

impl std::fmt::Display for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/{} to API {} stage {}",
            self.key, self.api_id, self.stage
        )
    }
}

/// The domain name, if API Gateway has it (in this account and region).
pub async fn find(stack: &Stack, name: &str) -> Result<Option<DomainName>> {
    let request = stack.clients.apigw.get_domain_name().domain_name(name);
    let Some(found) = or_absent(request.send().await, "API Gateway GetDomainName", name)? else {
        return Ok(None);
    };
    let config = found.domain_name_configurations().first();
    Ok(Some(DomainName {
        name: name.to_owned(),
        certificate_arn: config
            .and_then(|c| c.certificate_arn())
            .unwrap_or_default()
            .to_owned(),
        endpoint_type: config
            .and_then(|c| c.endpoint_type())
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        security_policy: config
            .and_then(|c| c.security_policy())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        target: config
            .and_then(|c| c.api_gateway_domain_name())
            .unwrap_or_default()
            .to_owned(),
        target_zone: config
            .and_then(|c| c.hosted_zone_id())
            .unwrap_or_default()
            .to_owned(),
        tags: found.tags().cloned().unwrap_or_default(),
    }))
}

/// Every domain name of the account in this region that carries this stack's tags.
pub async fn find_ours(stack: &Stack) -> Result<Vec<String>> {
    let all = all_pages(async |token| {
        let request = stack.clients.apigw.get_domain_names().set_next_token(token);
        let on = "the region's domain names";
        let out = checked(request.send().await, "API Gateway GetDomainNames", on)?;
        Ok((out.items.unwrap_or_default(), out.next_token))
    })
    .await?;
    Ok(all
        .into_iter()
        .filter(|d| d.tags().is_some_and(|t| stack.spec.owns(t)))
        .filter_map(|d| d.domain_name)
        .collect())
}

/// What differs between the domain name and what the stack wants of it.
#[derive(Debug, Default, PartialEq)]
pub struct DomainNameDiff {
    pub fields: Vec<&'static str>,
}

impl DomainNameDiff {
    pub fn between(found: &DomainName, certificate_arn: &str) -> DomainNameDiff {
        let mut fields = Vec::new();
        if found.certificate_arn != certificate_arn {
            fields.push("certificate");
        }
        if found.security_policy != SecurityPolicy::Tls12.as_str() {
            fields.push("security policy");
        }
        DomainNameDiff { fields }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn fields(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.to_string()).collect()
    }
}

fn configuration(certificate_arn: &str) -> DomainNameConfiguration {
    DomainNameConfiguration::builder()
        .certificate_arn(certificate_arn)
        .endpoint_type(EndpointType::Regional)
        .security_policy(SecurityPolicy::Tls12)
        .build()
}

/// Creates the regional domain name; an "already exists" (a repeat whose
/// first reply was lost) is the one this run made.
pub async fn create(ctx: &Ctx<'_>, name: &str, certificate_arn: &str) -> Result<()> {
    let request = ctx
        .clients
        .apigw
        .create_domain_name()
        .domain_name(name)
        .domain_name_configurations(configuration(certificate_arn))
        .set_tags(Some(ctx.spec.tags()));
    crate::aws::created(request.send().await, "API Gateway CreateDomainName", name)?;
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, name: &str, certificate_arn: &str) -> Result<()> {
    let request = ctx
        .clients
        .apigw
        .update_domain_name()
        .domain_name(name)
        .domain_name_configurations(configuration(certificate_arn));
    checked(request.send().await, "API Gateway UpdateDomainName", name)?;
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<()> {
    let request = ctx.clients.apigw.delete_domain_name().domain_name(name);
    or_absent(request.send().await, "API Gateway DeleteDomainName", name)?;
    Ok(())
}

/// Every mapping on the domain name (none when it does not exist).
pub async fn mappings(stack: &Stack, name: &str) -> Result<Vec<Mapping>> {
    let all = all_pages(async |token| {
        let request = stack
            .clients
            .apigw
            .get_api_mappings()
            .domain_name(name)
            .set_next_token(token);
        let answer = or_absent(request.send().await, "API Gateway GetApiMappings", name)?;
        Ok(answer.map_or((vec![], None), |out| {
            (out.items.unwrap_or_default(), out.next_token)
        }))
    })
    .await?;
    Ok(all
        .iter()
        .map(|m| Mapping {
            id: m.api_mapping_id().unwrap_or_default().to_owned(),
            api_id: m.api_id().unwrap_or_default().to_owned(),
            stage: m.stage().unwrap_or_default().to_owned(),
            key: m.api_mapping_key().unwrap_or_default().to_owned(),
        })
        .collect())
}

pub async fn map(ctx: &Ctx<'_>, name: &str, api_id: &str, key: &str) -> Result<()> {
    let mut request = ctx
        .clients
        .apigw
        .create_api_mapping()
        .domain_name(name)
        .api_id(api_id)
        .stage(&ctx.spec.id.stage);
    if !key.is_empty() {
        request = request.api_mapping_key(key);
    }
    crate::aws::created(request.send().await, "API Gateway CreateApiMapping", name)?;
    Ok(())
}

pub async fn unmap(ctx: &Ctx<'_>, name: &str, mapping: &Mapping) -> Result<()> {
    let request = ctx
        .clients
        .apigw
        .delete_api_mapping()
        .domain_name(name)
        .api_mapping_id(&mapping.id);
    or_absent(request.send().await, "API Gateway DeleteApiMapping", name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_name_differs_by_its_certificate_and_its_tls_policy() {
        let found = DomainName {
            certificate_arn: "arn:a".into(),
            security_policy: "TLS_1_2".into(),
            ..DomainName::default()
        };
        assert!(DomainNameDiff::between(&found, "arn:a").is_empty());
        let old = DomainName {
            security_policy: "TLS_1_0".into(),
            ..found
        };
        assert_eq!(
            DomainNameDiff::between(&old, "arn:b").fields(),
            ["certificate", "security policy"]
        );
    }
}
