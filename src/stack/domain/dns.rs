//! Route 53, over its REST-XML API: the public hosted zone that serves a
//! domain, and the few records a custom domain needs in it (ACM's validation
//! CNAME, the A and AAAA aliases to API Gateway's regional name).

use crate::aws::json::{failed, rest_xml};
use crate::aws::Clients;
use crate::error::Result;
use serde::Serialize;
use wschat_lambdas::json_api::{ApiError, ROUTE_53};
use wschat_lambdas::xml;

const API: &str = "/2013-04-01";

/// A public hosted zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// `Z0123456789ABC` (without `/hostedzone/`).
    pub id: String,
    /// `example.com` (no trailing dot, lower case).
    pub name: String,
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.id)
    }
}

/// One record set as Route 53 has it, or as a domain needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Without the trailing dot, lower case.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// A plain record's value; an alias's target name.
    pub value: String,
    /// An alias's target zone (API Gateway's regional zone); `None` for a plain record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias_zone: Option<String>,
    #[serde(skip)]
    pub ttl: Option<u32>,
}

impl Record {
    pub fn cname(name: &str, value: &str) -> Record {
        Record {
            name: normal(name),
            kind: "CNAME".into(),
            value: normal(value),
            alias_zone: None,
            ttl: Some(300),
        }
    }

    pub fn alias(name: &str, kind: &str, target: &str, zone: &str) -> Record {
        Record {
            name: normal(name),
            kind: kind.into(),
            value: normal(target),
            alias_zone: Some(zone.to_owned()),
            ttl: None,
        }
    }

    /// `name TYPE value` as a DNS provider's form asks for it.
    pub fn line(&self) -> String {
        let kind = match self.alias_zone {
            Some(_) => format!("{} (alias)", self.kind),
            None => self.kind.clone(),
        };
        format!("{:<44} {:<12} {}", self.name, kind, self.value)
    }

    /// Whether `found` already says what this record says.
    pub fn matches(&self, found: &Record) -> bool {
        self.name == found.name
            && self.kind == found.kind
            && self.value == found.value
            && self.alias_zone == found.alias_zone
    }
}

/// A DNS name as compared: lower case, no trailing dot.
pub fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn call(
    clients: &Clients,
    method: &str,
    path: &str,
    body: Option<&str>,
    on: &str,
) -> Result<std::result::Result<String, ApiError>> {
    rest_xml(clients, &ROUTE_53, (method, path), body, on).await
}

fn check(
    answer: std::result::Result<String, ApiError>,
    operation: &str,
    on: &str,
) -> Result<String> {
    answer.map_err(|e| failed(&ROUTE_53, operation, on, &e))
}

/// The public hosted zone of this account that serves `domain`: the one
/// with the longest name that `domain` is in. `None` when there is none (the
/// records go to the user's DNS provider).
pub async fn zone_for(clients: &Clients, domain: &str) -> Result<Option<Zone>> {
    let mut zones = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("{API}/hostedzone?maxitems=100&marker={m}"),
            None => format!("{API}/hostedzone?maxitems=100"),
        };
        let page = check(
            call(clients, "GET", &path, None, domain).await?,
            "ListHostedZones",
            domain,
        )?;
        for zone in xml::all(&page, "HostedZone") {
            let private = xml::first(&zone, "PrivateZone").is_some_and(|p| p == "true");
            let (Some(id), Some(name)) = (xml::first(&zone, "Id"), xml::first(&zone, "Name"))
            else {
                continue;
            };
            if !private {
                zones.push(Zone {
                    id: id.trim_start_matches("/hostedzone/").to_owned(),
                    name: normal(&name),
                });
            }
        }
        match xml::first(&page, "NextMarker") {
            Some(next) if xml::first(&page, "IsTruncated").as_deref() == Some("true") => {
                marker = Some(next)
            }
            _ => break,
        }
    }
    Ok(serving(zones, domain))
}

/// Of `zones`, the one with the longest name that `domain` is in or is.
fn serving(zones: Vec<Zone>, domain: &str) -> Option<Zone> {
    let domain = normal(domain);
    zones
        .into_iter()
        .filter(|z| domain == z.name || domain.ends_with(&format!(".{}", z.name)))
        .max_by_key(|z| z.name.len())
}

/// The record sets of `zone` named `name` (every type).
pub async fn records(clients: &Clients, zone: &Zone, name: &str) -> Result<Vec<Record>> {
    let name = normal(name);
    let path = format!(
        "{API}/hostedzone/{}/rrset?name={name}.&maxitems=20",
        zone.id
    );
    let answer = check(
        call(clients, "GET", &path, None, &name).await?,
        "ListResourceRecordSets",
        &zone.to_string(),
    )?;
    Ok(xml::all(&answer, "ResourceRecordSet")
        .iter()
        .filter_map(|set| parse_record(set))
        .filter(|r| r.name == name)
        .collect())
}

fn parse_record(set: &str) -> Option<Record> {
    let name = normal(&xml::first(set, "Name")?);
    let kind = xml::first(set, "Type")?;
    if let Some(alias) = xml::first(set, "AliasTarget") {
        return Some(Record::alias(
            &name,
            &kind,
            &xml::first(&alias, "DNSName")?,
            &xml::first(&alias, "HostedZoneId")?,
        ));
    }
    Some(Record {
        name,
        kind,
        value: normal(&xml::first(set, "Value")?),
        alias_zone: None,
        ttl: xml::first(set, "TTL").and_then(|t| t.parse().ok()),
    })
}

/// `UPSERT` or `DELETE`.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Upsert,
    Delete,
}

/// One change batch: every record written or removed at once.
pub async fn change(clients: &Clients, zone: &Zone, changes: &[(Action, &Record)]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let body = change_batch(changes);
    let path = format!("{API}/hostedzone/{}/rrset/", zone.id);
    check(
        call(clients, "POST", &path, Some(&body), &zone.to_string()).await?,
        "ChangeResourceRecordSets",
        &zone.to_string(),
    )?;
    Ok(())
}

fn change_batch(changes: &[(Action, &Record)]) -> String {
    let mut body = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>wschat</Comment><Changes>"#,
    );
    for (action, r) in changes {
        let action = match action {
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        };
        let target = match &r.alias_zone {
            Some(zone) => format!(
                "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>",
                xml::escape(zone),
                xml::escape(&r.value)
            ),
            None => format!(
                "<TTL>{}</TTL><ResourceRecords><ResourceRecord><Value>{}.</Value></ResourceRecord></ResourceRecords>",
                r.ttl.unwrap_or(300),
                xml::escape(&r.value)
            ),
        };
        body.push_str(&format!(
            "<Change><Action>{action}</Action><ResourceRecordSet><Name>{}.</Name><Type>{}</Type>{target}</ResourceRecordSet></Change>",
            xml::escape(&r.name),
            xml::escape(&r.kind)
        ));
    }
    body.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_public_zone_containing_the_domain_serves_it() {
        let zone = |name: &str| Zone {
            id: format!("Z{name}"),
            name: name.into(),
        };
        let zones = vec![
            zone("example.com"),
            zone("chat.example.com"),
            zone("ample.com"),
        ];
        assert_eq!(
            serving(zones.clone(), "Chat.Example.com.").unwrap().name,
            "chat.example.com"
        );
        assert_eq!(
            serving(zones.clone(), "api.example.com").unwrap().name,
            "example.com"
        );
        assert_eq!(serving(zones, "example.org"), None);
    }

    #[test]
    fn records_round_trip_through_route_53s_xml() {
        let alias = Record::alias(
            "chat.example.com",
            "A",
            "d-abc.execute-api.eu-west-1.amazonaws.com",
            "ZLY8HYME6SFDD",
        );
        let cname = Record::cname("_x.chat.example.com.", "_y.acm-validations.aws.");
        let batch = change_batch(&[(Action::Upsert, &alias), (Action::Delete, &cname)]);
        let sets = xml::all(&batch, "ResourceRecordSet");
        assert_eq!(parse_record(&sets[0]), Some(alias));
        assert_eq!(parse_record(&sets[1]), Some(cname));
        assert!(batch.contains("<Action>DELETE</Action>"));
    }
}
