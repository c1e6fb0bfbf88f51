//! `wschat logs`: the stack's Lambda logs merged in time order, or the sandbox's.

use super::local::HttpStore;
use super::{Backend, Target};
use crate::aws::or_absent;
use crate::clock::iso8601;
use crate::error::{CliError, Result};
use crate::spec::Function;
use crate::stack::Stack;
use serde::Serialize;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;
use wschat_lambdas::clock::now_ms;

#[derive(Debug, Clone, Serialize)]
pub struct LogEvent {
    /// Epoch ms.
    pub timestamp: i64,
    pub function: String,
    pub message: String,
    #[serde(skip)]
    key: String,
}

impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:<10} {}",
            iso8601(self.timestamp),
            self.function,
            self.message.trim_end()
        )
    }
}

#[derive(Debug, Serialize)]
pub struct LogsReport {
    pub events: Vec<LogEvent>,
}

impl fmt::Display for LogsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.events.is_empty() {
            return write!(f, "no log events in that window");
        }
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

pub struct LogsOptions {
    pub functions: Vec<Function>,
    /// The stage's access log too (`access` in the merged lines), where it exists.
    pub access: bool,
    pub since: Duration,
    pub filter: Option<String>,
}

/// Where the next poll starts: events are deduplicated by key, so windows may overlap.
pub struct Cursor {
    start_ms: i64,
    after_seq: u64,
    seen: HashSet<String>,
}

impl Cursor {
    pub fn new(since: Duration) -> Cursor {
        Cursor {
            start_ms: now_ms() - since.as_millis() as i64,
            after_seq: 0,
            seen: HashSet::new(),
        }
    }
}

async fn fetch_aws(stack: &Stack, options: &LogsOptions, cursor: &Cursor) -> Result<Vec<LogEvent>> {
    let (clients, spec) = (&stack.clients, &stack.spec);
    let mut events = Vec::new();
    let mut groups_found = 0;
    let mut groups: Vec<(&str, String)> = options
        .functions
        .iter()
        .map(|f| (f.name(), spec.log_group(*f)))
        .collect();
    if options.access {
        groups.push(("access", spec.access_log_group()));
    }
    for (source, group) in groups {
        let mut request = clients
            .logs
            .filter_log_events()
            .log_group_name(&group)
            .start_time(cursor.start_ms);
        if let Some(text) = &options.filter {
            // A quoted term matches the text exactly, whatever its punctuation.
            request = request.filter_pattern(format!("\"{}\"", text.replace('"', "")));
        }
        let mut pages = request.into_paginator().send();
        let mut exists = true;
        while let Some(page) = pages.next().await {
            let Some(page) = or_absent(page, "CloudWatch Logs FilterLogEvents", &group)? else {
                exists = false;
                break;
            };
            events.extend(page.events().iter().map(|e| LogEvent {
                timestamp: e.timestamp.unwrap_or(0),
                function: source.to_owned(),
                message: e.message.clone().unwrap_or_default(),
                key: e.event_id.clone().unwrap_or_default(),
            }));
        }
        groups_found += usize::from(exists);
    }
    if groups_found == 0 {
        return Err(CliError::failed(format!(
            "no log groups for {} in {}",
            spec.prefix(),
            spec.region
        ))
        .with_hint(match options.functions.is_empty() {
            true => "the access log exists once the stack is deployed with `wschat deploy --access-logs`",
            false => "deploy the stack with `wschat deploy`; its functions log there",
        }));
    }
    Ok(events)
}

async fn fetch_local(
    store: &HttpStore,
    options: &LogsOptions,
    cursor: &Cursor,
) -> Result<Vec<LogEvent>> {
    let lines = store
        .logs(cursor.after_seq)
        .await
        .map_err(|e| CliError::failed(e.0))?;
    let wanted: Vec<&str> = options.functions.iter().map(|f| f.name()).collect();
    Ok(lines
        .into_iter()
        .filter_map(|l| {
            Some(LogEvent {
                timestamp: l["ts"].as_i64()?,
                function: l["function"].as_str()?.to_owned(),
                message: l["message"].as_str()?.to_owned(),
                key: l["seq"].as_u64()?.to_string(),
            })
        })
        .filter(|e| wanted.contains(&e.function.as_str()) && e.timestamp >= cursor.start_ms)
        .filter(|e| {
            options
                .filter
                .as_ref()
                .is_none_or(|t| e.message.contains(t.as_str()))
        })
        .collect())
}

/// New events since the cursor, oldest first.
pub async fn poll(
    target: &Target,
    options: &LogsOptions,
    cursor: &mut Cursor,
) -> Result<Vec<LogEvent>> {
    let mut events = match &target.backend {
        Backend::Local(store) => {
            let events = fetch_local(store, options, cursor).await?;
            if let Some(max) = events
                .iter()
                .filter_map(|e| e.key.parse::<u64>().ok())
                .max()
            {
                cursor.after_seq = max;
            }
            events
        }
        Backend::Aws(stack) => fetch_aws(stack, options, cursor).await?,
    };
    events.retain(|e| cursor.seen.insert(format!("{}/{}", e.function, e.key)));
    events.sort_by_key(|e| e.timestamp);
    if let Some(last) = events.last() {
        // CloudWatch may still add events at the same millisecond: overlap by one, dedupe by id.
        cursor.start_ms = cursor.start_ms.max(last.timestamp);
    }
    Ok(events)
}

/// How often `--follow` asks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);

/// `--follow`: shows each new batch until Ctrl-C, starting with `first`.
pub async fn follow(
    target: &Target,
    options: &LogsOptions,
    cursor: &mut Cursor,
    first: Vec<LogEvent>,
    show: impl Fn(&LogEvent),
) -> Result<()> {
    let mut batch = first;
    loop {
        batch.iter().for_each(&show);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
        batch = poll(target, options, cursor).await?;
    }
}
