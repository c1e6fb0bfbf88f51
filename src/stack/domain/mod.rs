//! The chat at its own address: an ACM certificate, DNS records, API
//! Gateway's regional domain name and the API mapping to the stage.
//!
//! - `certificate`: ACM (the stack's own, DNS-validated, or the user's);
//! - `dns`: Route 53's public hosted zone for the domain, when the account
//!   has one (else the records are printed for the user's DNS provider);
//! - `gateway`: the domain name and its mappings.
//!
//! Deploy converges in two steps: [`prepare`] (the certificate, its
//! validation record, the wait for ACM) runs beside the rest of the stack,
//! [`finish`] (the domain name, its alias records, the mapping) once the
//! stage exists. Ownership: the certificate and the domain name carry the
//! stack's tags; a record is the stack's when it says what the stack wrote
//! (the validation CNAME of its certificate, an alias to its domain name's
//! target). A domain name of someone else's may still carry the stack's
//! mapping; it is never changed or deleted.

pub mod certificate;
pub mod dns;
pub mod gateway;

use super::{Change, Ctx, Leftover, Resource, Stack};
use crate::error::{CliError, Result};
use certificate::Certificate;
use dns::{Action, Record, Zone};
use gateway::{DomainNameDiff, Mapping};
use serde::Serialize;
use std::fmt;
use std::time::{Duration, Instant};

const CERTIFICATE: &str = "certificate";
const RECORD: &str = "dns record";
const DOMAIN: &str = "domain name";
const MAPPING: &str = "api mapping";

/// How long deploy waits for ACM to validate (it takes minutes once the
/// record resolves; an hour means the record is missing or wrong).
const VALIDATION_WAIT: Duration = Duration::from_secs(3600);
/// How long ACM takes to make a new certificate's validation record.
const RECORD_WAIT: Duration = Duration::from_secs(120);

/// What the domain needs and has, for deploy's and status's reports.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub name: String,
    /// Where clients connect once `live`.
    pub url: String,
    /// Certificate issued, domain name and mapping in place, records in the hosted zone.
    pub live: bool,
    /// Why it is not live yet, and what happens next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    pub certificate_arn: Option<String>,
    /// ACM's word: `PENDING_VALIDATION`, `ISSUED`, ...
    pub certificate_status: Option<String>,
    /// Requested by the stack (teardown deletes it), or given (never deleted).
    pub certificate_owned: bool,
    /// The public hosted zone the records are written to; `None`: your DNS provider.
    pub hosted_zone: Option<String>,
    /// The records the domain needs.
    pub records: Vec<NeededRecord>,
    /// The mapping on the domain that serves the stage.
    pub mapping: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NeededRecord {
    #[serde(flatten)]
    pub record: Record,
    /// What it is for.
    pub purpose: &'static str,
    /// Whether the hosted zone has it; `None` without a hosted zone.
    pub in_zone: Option<bool>,
}

impl fmt::Display for DomainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.waiting, self.live) {
            (_, true) => "live".to_owned(),
            (Some(why), false) => format!("not live yet: {why}"),
            (None, false) => "not live yet".to_owned(),
        };
        writeln!(f, "  domain        {} ({state})", self.url)?;
        if let (Some(arn), Some(status)) = (&self.certificate_arn, &self.certificate_status) {
            let whose = if self.certificate_owned {
                "the stack's"
            } else {
                "yours, kept by teardown"
            };
            writeln!(f, "  certificate   {status} {arn} ({whose})")?;
        }
        if let Some(mapping) = &self.mapping {
            writeln!(f, "  mapping       {mapping}")?;
        }
        match &self.hosted_zone {
            Some(zone) => writeln!(f, "  dns           Route 53 hosted zone {zone}")?,
            None if !self.records.is_empty() => writeln!(
                f,
                "  dns           no Route 53 hosted zone for it in this account: add these records at your DNS provider"
            )?,
            None => {}
        }
        for r in &self.records {
            let has = match r.in_zone {
                Some(true) => "  (in the zone)",
                Some(false) => "  (missing from the zone)",
                None => "",
            };
            writeln!(f, "    {}  {}{has}", r.record.line(), r.purpose)?;
        }
        Ok(())
    }
}

/// What [`prepare`] found or made, for [`finish`].
pub struct Prepared {
    wanted: crate::spec::DomainSettings,
    zone: Option<Zone>,
    certificate: Option<Certificate>,
    owned: bool,
    records: Vec<NeededRecord>,
    waiting: Option<String>,
    resources: Vec<Resource>,
}

/// The certificate and its validation: found, requested or given; the
/// validation record written where the account has the zone (printed
/// otherwise); then, unless `--no-wait` or a dry run, the wait for ACM.
pub async fn prepare(ctx: &Ctx<'_>) -> Result<Option<Prepared>> {
    let Some(wanted) = ctx.spec.settings.domain.clone() else {
        return Ok(None);
    };
    let zone = dns::zone_for(&ctx.clients, &wanted.name).await?;
    let (certificate, owned, resource) = ensure_certificate(ctx, &wanted).await?;
    let mut prepared = Prepared {
        wanted,
        zone,
        certificate: None,
        owned,
        records: vec![],
        waiting: None,
        resources: vec![resource],
    };
    let Some(mut cert) = certificate else {
        prepared.waiting = Some("the certificate is to be requested".into());
        return Ok(Some(prepared));
    };
    if cert.status != certificate::ISSUED || owned {
        // An issued certificate of the stack's keeps its record: ACM renews by it.
        if cert.validation.is_empty() && cert.status == certificate::PENDING && !ctx.dry_run {
            cert = validation_records(ctx, cert).await?;
        }
        let written = validation(ctx, &mut prepared, &cert).await?;
        prepared.resources.extend(written);
    }
    if cert.status == certificate::PENDING {
        if ctx.dry_run || ctx.no_wait {
            prepared.waiting = Some(pending_words(prepared.zone.is_some()));
        } else {
            cert = wait_for_issue(ctx, &prepared, cert).await?;
        }
    } else if cert.status != certificate::ISSUED {
        return Err(CliError::failed(format!(
            "the certificate {} for {} is {}: API Gateway cannot serve it",
            cert.arn, cert.domain, cert.status
        ))
        .with_hint(match owned {
            true => "`wschat teardown` removes it (or delete it in ACM); the next deploy requests another",
            false => "give an issued certificate with --certificate-arn, or leave it out for the stack to request one",
        }));
    }
    prepared.certificate = Some(cert);
    Ok(Some(prepared))
}

fn pending_words(zone: bool) -> String {
    match zone {
        true => "ACM is validating the certificate through the record in the hosted zone (minutes); deploy again to finish".into(),
        false => "the certificate waits for its validation record at your DNS provider; add it, then deploy again".into(),
    }
}

/// Before any write of a deploy: a given certificate is in the stack's
/// region, exists and covers the domain (the rest of the stack is made
/// beside the domain's steps, so their checks would come too late).
pub async fn preflight(ctx: &Ctx<'_>) -> Result<()> {
    match &ctx.spec.settings.domain {
        Some(crate::spec::DomainSettings {
            name,
            certificate_arn: Some(arn),
            ..
        }) => given_certificate(ctx, arn, name).await.map(drop),
        _ => Ok(()),
    }
}

async fn ensure_certificate(
    ctx: &Ctx<'_>,
    wanted: &crate::spec::DomainSettings,
) -> Result<(Option<Certificate>, bool, Resource)> {
    if let Some(arn) = &wanted.certificate_arn {
        let cert = given_certificate(ctx, arn, &wanted.name).await?;
        let resource = Resource::new(
            CERTIFICATE,
            format!("{} (yours)", wanted.name),
            Change::Unchanged,
        );
        return Ok((Some(cert), false, resource));
    }
    let found = certificate::find_ours(ctx, Some(&wanted.name)).await?;
    if let Some(cert) = found.into_iter().find(Certificate::usable) {
        return Ok((
            Some(cert),
            true,
            Resource::new(CERTIFICATE, &wanted.name, Change::Unchanged),
        ));
    }
    let resource = ctx
        .track(CERTIFICATE, &wanted.name, async |task| {
            if !ctx.dry_run {
                task.set("requesting (DNS validation)");
                certificate::request(ctx, &wanted.name).await?;
            }
            Ok(Change::Created)
        })
        .await?;
    let cert = match ctx.dry_run {
        true => None,
        false => certificate::find_ours(ctx, Some(&wanted.name))
            .await?
            .into_iter()
            .find(Certificate::usable),
    };
    Ok((cert, true, resource))
}

/// The user's certificate, checked before anything is made with it.
async fn given_certificate(ctx: &Ctx<'_>, arn: &str, domain: &str) -> Result<Certificate> {
    let region = arn.split(':').nth(3).unwrap_or_default();
    if region != ctx.spec.region {
        return Err(CliError::usage(format!(
            "the certificate {arn} is in {region}; a regional domain name needs one in the API's region, {}",
            ctx.spec.region
        ))
        .with_hint("request or import one there, or leave out --certificate-arn for the stack to request one"));
    }
    let Some(cert) = certificate::describe(ctx, arn).await? else {
        return Err(CliError::usage(format!(
            "the certificate {arn} does not exist (or this account may not read it)"
        )));
    };
    if !cert.covers(domain) {
        return Err(CliError::usage(format!(
            "the certificate {arn} is for {} and does not cover {domain}",
            std::iter::once(cert.domain.as_str())
                .chain(cert.alternative_names.iter().map(String::as_str))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(cert)
}

/// ACM makes a new certificate's validation record a few seconds after the request.
async fn validation_records(ctx: &Ctx<'_>, cert: Certificate) -> Result<Certificate> {
    let task = ctx.progress.task(format!("{CERTIFICATE} {}", cert.domain));
    task.set("waiting for ACM to name its validation record");
    let deadline = Instant::now() + RECORD_WAIT;
    loop {
        let now = certificate::describe(ctx, &cert.arn)
            .await?
            .unwrap_or(cert.clone());
        if !now.validation.is_empty() || now.status != certificate::PENDING {
            task.finish("validation record named");
            return Ok(now);
        }
        if Instant::now() > deadline {
            return Err(CliError::failed(format!(
                "ACM named no validation record for {} within {} s",
                cert.arn,
                RECORD_WAIT.as_secs()
            ))
            .with_hint("deploy again in a few minutes"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The validation records: written to the zone when there is one, else listed.
async fn validation(
    ctx: &Ctx<'_>,
    prepared: &mut Prepared,
    cert: &Certificate,
) -> Result<Vec<Resource>> {
    let mut resources = Vec::new();
    for record in &cert.validation {
        let in_zone = match &prepared.zone {
            Some(zone) => {
                let found = dns::records(&ctx.clients, zone, &record.name).await?;
                let has = found.iter().any(|r| record.matches(r));
                let label = format!("{} CNAME", record.name);
                resources.push(
                    ctx.track(RECORD, label, async |_| {
                        if has {
                            return Ok(Change::Unchanged);
                        }
                        if !ctx.dry_run {
                            dns::change(&ctx.clients, zone, &[(Action::Upsert, record)]).await?;
                        }
                        Ok(Change::Created)
                    })
                    .await?,
                );
                Some(has || !ctx.dry_run)
            }
            None => None,
        };
        prepared.records.push(NeededRecord {
            record: record.clone(),
            purpose: "ACM validates the certificate by it (keep it: renewals need it)",
            in_zone,
        });
    }
    Ok(resources)
}

async fn wait_for_issue(
    ctx: &Ctx<'_>,
    prepared: &Prepared,
    cert: Certificate,
) -> Result<Certificate> {
    if prepared.zone.is_none() {
        let mut text = format!(
            "\nAdd this record at your DNS provider for ACM to validate the certificate of {}:\n",
            prepared.wanted.name
        );
        for r in &prepared.records {
            text.push_str(&format!("  {}\n", r.record.line()));
        }
        text.push_str("(deploy waits; --no-wait returns now and the next deploy finishes)\n");
        ctx.progress.note(&text);
    }
    let task = ctx.progress.task(format!("{CERTIFICATE} {}", cert.domain));
    let started = Instant::now();
    loop {
        let now = certificate::describe(ctx, &cert.arn)
            .await?
            .unwrap_or(cert.clone());
        match now.status.as_str() {
            certificate::ISSUED => {
                task.finish(format!("issued after {} s", started.elapsed().as_secs()));
                return Ok(now);
            }
            certificate::PENDING if started.elapsed() < VALIDATION_WAIT => {
                task.set(format!(
                    "waiting for ACM's DNS validation ({} s)",
                    started.elapsed().as_secs()
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            certificate::PENDING => return Err(CliError::failed(format!(
                "ACM has not validated {} after {} minutes",
                cert.domain,
                VALIDATION_WAIT.as_secs() / 60
            ))
            .with_hint(
                "check that the validation record resolves (`dig CNAME <name>`), then deploy again",
            )),
            other => {
                return Err(CliError::failed(format!(
                    "ACM did not issue the certificate for {}: {other}",
                    cert.domain
                )))
            }
        }
    }
}

/// The domain name (with the issued certificate), the alias records in the
/// zone, and the mapping of the stage; the report. `api_id` is `None` only
/// in a dry run of a stack without an API.
pub async fn finish(
    ctx: &Ctx<'_>,
    prepared: Prepared,
    api_id: Option<&str>,
) -> Result<(Vec<Resource>, DomainReport)> {
    let Prepared {
        wanted,
        zone,
        certificate,
        owned,
        mut records,
        waiting,
        mut resources,
    } = prepared;
    let name = wanted.name.as_str();
    let mut report = DomainReport {
        name: name.to_owned(),
        url: url(&wanted),
        live: false,
        waiting,
        certificate_arn: certificate.as_ref().map(|c| c.arn.clone()),
        certificate_status: certificate.as_ref().map(|c| c.status.clone()),
        certificate_owned: owned,
        hosted_zone: zone.as_ref().map(Zone::to_string),
        records: vec![],
        mapping: None,
    };
    let issued = certificate
        .as_ref()
        .filter(|c| c.status == certificate::ISSUED);
    let Some(cert) = issued else {
        // Nothing of API Gateway's can be made before the certificate is
        // issued: a plan (and status) lists them as to be made.
        report.records = records;
        if ctx.dry_run {
            resources.extend([
                Resource::new(DOMAIN, name, Change::Created),
                Resource::new(MAPPING, mapping_label(&wanted), Change::Created),
            ]);
        }
        return Ok((resources, report));
    };
    let (domain_resource, found) = ensure_domain_name(ctx, name, &cert.arn).await?;
    resources.push(domain_resource);
    // Without a zone, whether the user's DNS has the pointer cannot be seen
    // from here (`in_zone` is `None`): live once mapped.
    let mut aliases_in_place = true;
    if let Some(domain) = &found {
        let (written, needed) = aliases(ctx, zone.as_ref(), domain).await?;
        aliases_in_place = needed.iter().all(|r| r.in_zone != Some(false));
        resources.extend(written);
        records.extend(needed);
    }
    let (mapping_resource, mapped) = ensure_mapping(ctx, &wanted, api_id, found.is_some()).await?;
    resources.push(mapping_resource);
    report.mapping = mapped.as_ref().map(ToString::to_string);
    report.live = found.is_some() && mapped.is_some() && aliases_in_place;
    if !report.live && report.waiting.is_none() {
        report.waiting = Some(match (&found, &mapped) {
            (None, _) => "the domain name is to be created".into(),
            (_, None) => "the mapping is to be created".into(),
            _ => "the alias records are to be written".into(),
        });
    }
    report.records = records;
    Ok((resources, report))
}

fn url(wanted: &crate::spec::DomainSettings) -> String {
    match wanted.path.as_str() {
        "" => format!("wss://{}", wanted.name),
        path => format!("wss://{}/{path}", wanted.name),
    }
}

fn mapping_label(wanted: &crate::spec::DomainSettings) -> String {
    format!("{}/{}", wanted.name, wanted.path)
}

async fn ensure_domain_name(
    ctx: &Ctx<'_>,
    name: &str,
    certificate_arn: &str,
) -> Result<(Resource, Option<gateway::DomainName>)> {
    let found = gateway::find(ctx, name).await?;
    let resource = ctx
        .track(DOMAIN, name, async |task| {
            let Some(domain) = &found else {
                if !ctx.dry_run {
                    task.set("creating (regional, TLS 1.2)");
                    gateway::create(ctx, name, certificate_arn).await?;
                }
                return Ok(Change::Created);
            };
            if !ctx.spec.owns(&domain.tags) {
                return Ok(Change::Foreign);
            }
            let diff = DomainNameDiff::between(domain, certificate_arn);
            if diff.is_empty() {
                return Ok(Change::Unchanged);
            }
            if !ctx.dry_run {
                gateway::update(ctx, name, certificate_arn).await?;
            }
            Ok(Change::Updated {
                fields: diff.fields(),
            })
        })
        .await?;
    let found = match (resource.change.clone(), ctx.dry_run) {
        (Change::Created | Change::Updated { .. }, false) => gateway::find(ctx, name).await?,
        _ => found,
    };
    Ok((resource, found))
}

/// The A and AAAA aliases to the domain name's regional target: written to
/// the zone (an alias to another API Gateway target is moved; any other
/// record of that name is the user's and left alone), or listed as the
/// CNAME to add without a zone.
async fn aliases(
    ctx: &Ctx<'_>,
    zone: Option<&Zone>,
    domain: &gateway::DomainName,
) -> Result<(Vec<Resource>, Vec<NeededRecord>)> {
    const PURPOSE: &str = "points the domain at API Gateway";
    let Some(zone) = zone else {
        let cname = NeededRecord {
            record: Record::cname(&domain.name, &domain.target),
            purpose: PURPOSE,
            in_zone: None,
        };
        return Ok((vec![], vec![cname]));
    };
    let found = dns::records(&ctx.clients, zone, &domain.name).await?;
    let mut resources = Vec::new();
    let mut needed = Vec::new();
    for kind in ["A", "AAAA"] {
        let wanted = Record::alias(&domain.name, kind, &domain.target, &domain.target_zone);
        let existing = found.iter().find(|r| r.kind == kind || r.kind == "CNAME");
        let ours_to_move = existing.is_some_and(|r| {
            r.kind == kind && r.alias_zone.is_some() && r.value.contains(".execute-api.")
        });
        let label = format!("{} {kind}", domain.name);
        let resource = ctx
            .track(RECORD, label, async |_| {
                let change = match existing {
                    Some(r) if wanted.matches(r) => return Ok(Change::Unchanged),
                    Some(_) if !ours_to_move => return Ok(Change::Foreign),
                    Some(_) => Change::Updated {
                        fields: vec!["alias target".into()],
                    },
                    None => Change::Created,
                };
                if !ctx.dry_run {
                    dns::change(&ctx.clients, zone, &[(Action::Upsert, &wanted)]).await?;
                }
                Ok(change)
            })
            .await?;
        let in_zone = match resource.change {
            Change::Unchanged => true,
            Change::Foreign => false,
            _ => !ctx.dry_run,
        };
        resources.push(resource);
        needed.push(NeededRecord {
            record: wanted,
            purpose: PURPOSE,
            in_zone: Some(in_zone),
        });
    }
    Ok((resources, needed))
}

/// The stage's mapping at the wanted key; the stack's mappings at other keys
/// of the domain are removed. A key that serves another API or stage is
/// drift: reported, never taken over.
async fn ensure_mapping(
    ctx: &Ctx<'_>,
    wanted: &crate::spec::DomainSettings,
    api_id: Option<&str>,
    domain_exists: bool,
) -> Result<(Resource, Option<Mapping>)> {
    let name = wanted.name.as_str();
    let mappings = match domain_exists {
        true => gateway::mappings(ctx, name).await?,
        false => vec![],
    };
    let stage = &ctx.spec.id.stage;
    let ours = |m: &Mapping| Some(m.api_id.as_str()) == api_id && &m.stage == stage;
    let at_key = mappings.iter().find(|m| m.key == wanted.path);
    let stale: Vec<&Mapping> = mappings
        .iter()
        .filter(|m| ours(m) && m.key != wanted.path)
        .collect();
    let resource = ctx
        .track(MAPPING, mapping_label(wanted), async |_| {
            let change = match at_key {
                Some(m) if ours(m) && stale.is_empty() => return Ok(Change::Unchanged),
                Some(m) if ours(m) => Change::Updated { fields: vec!["stale mappings removed".into()] },
                Some(other) if ctx.dry_run => {
                    return Ok(Change::Updated { fields: vec![format!("maps {other}")] })
                }
                Some(other) => {
                    return Err(CliError::usage(format!(
                        "{name}/{} already maps {other}, not this stack: wschat does not take it over",
                        wanted.path
                    ))
                    .with_hint("choose another --domain-path, or delete that mapping first (aws apigatewayv2 delete-api-mapping)"))
                }
                None => Change::Created,
            };
            if !ctx.dry_run {
                for m in &stale {
                    gateway::unmap(ctx, name, m).await?;
                }
                if at_key.is_none() {
                    let id = api_id.expect("a deploy knows its API");
                    gateway::map(ctx, name, id, &wanted.path).await?;
                }
            }
            Ok(change)
        })
        .await?;
    let mapped = match (&resource.change, ctx.dry_run) {
        (Change::Unchanged, _) => at_key.cloned(),
        (Change::Created | Change::Updated { .. }, false) => Some(Mapping {
            id: String::new(),
            api_id: api_id.unwrap_or_default().to_owned(),
            stage: stage.clone(),
            key: wanted.path.clone(),
        }),
        _ => None,
    };
    Ok((resource, mapped))
}

/// What of a custom domain this stack has: its domain names (by tag), and
/// the recorded domain it may be mapped on without owning it.
struct Held {
    name: String,
    domain: Option<gateway::DomainName>,
    ours: bool,
    /// The stack's mappings on it.
    mine: Vec<Mapping>,
    /// Other APIs' or stages' mappings on it.
    others: Vec<Mapping>,
}

async fn held(stack: &Stack, api_id: Option<&str>, recorded: Option<&str>) -> Result<Vec<Held>> {
    let mut names = gateway::find_ours(stack).await?;
    if let Some(name) = recorded {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    let mut held = Vec::new();
    for name in names {
        let domain = gateway::find(stack, &name).await?;
        let Some(domain) = domain else { continue };
        let (mine, others): (Vec<Mapping>, Vec<Mapping>) = gateway::mappings(stack, &name)
            .await?
            .into_iter()
            .partition(|m| Some(m.api_id.as_str()) == api_id && m.stage == stack.spec.id.stage);
        held.push(Held {
            ours: stack.spec.owns(&domain.tags),
            name,
            domain: Some(domain),
            mine,
            others,
        });
    }
    Ok(held)
}

/// Refuses, before anything is deleted, to remove a domain name of the
/// stack's that maps other APIs too.
fn refuse_shared(held: &[Held]) -> Result<()> {
    let Some(shared) = held.iter().find(|h| h.ours && !h.others.is_empty()) else {
        return Ok(());
    };
    let others: Vec<String> = shared.others.iter().map(ToString::to_string).collect();
    Err(CliError::usage(format!(
        "the domain name {} maps other APIs too ({}): removing it would take them offline, so nothing was deleted",
        shared.name,
        others.join("; ")
    ))
    .with_hint("delete those mappings (or move them to another domain name) first, then run this again"))
}

/// Removes the stack's custom domain: its mapping, then (when the domain
/// name is the stack's) the alias records, the domain name, the validation
/// records and the certificate the stack requested. `recorded` is the
/// domain the last deploy applied (a domain of someone else's the stack is
/// mapped on). With `every_certificate`, also the stack's certificates no
/// domain name uses any more (teardown; deploy leaves those to it).
pub async fn delete(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    recorded: Option<&str>,
    every_certificate: bool,
) -> Result<Vec<Resource>> {
    let held = held(ctx, api_id, recorded).await?;
    refuse_shared(&held)?;
    let mut removed = Vec::new();
    let mut certificates_done = Vec::new();
    for h in held {
        for m in &h.mine {
            let label = format!("{}/{}", h.name, m.key);
            let gone = std::future::ready(Ok(super::Ownership::Ours));
            removed.push(
                ctx.remove(MAPPING, label, gone, async |_| {
                    gateway::unmap(ctx, &h.name, m).await
                })
                .await?,
            );
        }
        let (true, Some(domain)) = (h.ours, &h.domain) else {
            continue;
        };
        let zone = dns::zone_for(&ctx.clients, &h.name).await?;
        if let Some(zone) = &zone {
            let found = dns::records(&ctx.clients, zone, &h.name).await?;
            for r in found
                .iter()
                .filter(|r| r.alias_zone.is_some() && r.value == dns::normal(&domain.target))
            {
                let gone = std::future::ready(Ok(super::Ownership::Ours));
                let label = format!("{} {}", r.name, r.kind);
                removed.push(
                    ctx.remove(RECORD, label, gone, async |_| {
                        dns::change(&ctx.clients, zone, &[(Action::Delete, r)]).await
                    })
                    .await?,
                );
            }
        }
        let gone = std::future::ready(Ok(super::Ownership::Ours));
        removed.push(
            ctx.remove(DOMAIN, &h.name, gone, async |_| {
                gateway::delete(ctx, &h.name).await
            })
            .await?,
        );
        if let Some(cert) = certificate::describe(ctx, &domain.certificate_arn).await? {
            if ctx.spec.owns(&cert.tags) {
                removed.extend(delete_certificate(ctx, &cert).await?);
                certificates_done.push(cert.arn);
            }
        }
    }
    if every_certificate {
        for cert in certificate::find_ours(ctx, None).await? {
            if !certificates_done.contains(&cert.arn) {
                removed.extend(delete_certificate(ctx, &cert).await?);
            }
        }
    }
    Ok(removed)
}

/// The certificate's validation records (where the zone has them as the
/// certificate names them), then the certificate.
async fn delete_certificate(ctx: &Ctx<'_>, cert: &Certificate) -> Result<Vec<Resource>> {
    let mut removed = Vec::new();
    if let Some(zone) = dns::zone_for(&ctx.clients, &cert.domain).await? {
        for record in &cert.validation {
            let found = dns::records(&ctx.clients, &zone, &record.name).await?;
            if let Some(r) = found.iter().find(|r| record.matches(r)) {
                let gone = std::future::ready(Ok(super::Ownership::Ours));
                let label = format!("{} CNAME", r.name);
                removed.push(
                    ctx.remove(RECORD, label, gone, async |_| {
                        dns::change(&ctx.clients, &zone, &[(Action::Delete, r)]).await
                    })
                    .await?,
                );
            }
        }
    }
    let gone = std::future::ready(Ok(super::Ownership::Ours));
    removed.push(
        ctx.remove(CERTIFICATE, &cert.domain, gone, async |_| {
            certificate::delete(ctx, &cert.arn).await
        })
        .await?,
    );
    Ok(removed)
}

/// The stack's domain names and certificates that still exist.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let (names, certificates) = tokio::try_join!(
        gateway::find_ours(stack),
        certificate::find_ours(stack, None)
    )?;
    let mut left: Vec<Leftover> = names
        .into_iter()
        .map(|n| Leftover::new(DOMAIN, n))
        .collect();
    left.extend(
        certificates
            .into_iter()
            .map(|c| Leftover::new(CERTIFICATE, format!("{} ({})", c.domain, c.arn))),
    );
    Ok(left)
}
