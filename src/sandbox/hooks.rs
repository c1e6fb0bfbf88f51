//! Test-only hooks, off unless `WSCHAT_DEV_TEST_HOOKS=1`: they make an
//! invocation panic or run late, so tests meet the gateway's error frames and
//! timeouts without a change to the chat; and `WSCHAT_DEV_EVENT_LOG=FILE`
//! appends every event the sandbox sends its handlers, one JSON per line.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use wschat_lambdas::event::{EventType, WebSocketEvent};

pub struct Hooks {
    enabled: bool,
    event_log: Option<Mutex<std::fs::File>>,
}

/// What a hooked event asks of its invocation.
#[derive(Debug, PartialEq)]
pub enum Hook {
    Panic,
    /// On `$connect`, after the handler; on a message, before it.
    Sleep(Duration),
}

impl Hooks {
    pub fn from_env() -> Hooks {
        let event_log = std::env::var_os("WSCHAT_DEV_EVENT_LOG").and_then(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()?;
            Some(Mutex::new(file))
        });
        Hooks {
            enabled: std::env::var("WSCHAT_DEV_TEST_HOOKS").as_deref() == Ok("1"),
            event_log,
        }
    }

    pub fn record(&self, event: &WebSocketEvent) {
        if let Some(log) = &self.event_log {
            let line = serde_json::to_string(event).expect("events serialise");
            let _ = writeln!(log.lock().unwrap(), "{line}");
        }
    }

    /// `?hook=panic` or `?hook=sleep&ms=N` on `$connect`; a frame
    /// `{"hook":"panic"}` or `{"hook":"sleep","ms":N}`.
    pub fn of(&self, event: &WebSocketEvent) -> Option<Hook> {
        if !self.enabled {
            return None;
        }
        let (name, ms) = match event.request_context.event_type {
            EventType::Connect => {
                let query = event.query_string_parameters.as_ref()?;
                let ms = query.get("ms").and_then(|ms| ms.parse().ok());
                (query.get("hook")?.clone(), ms)
            }
            EventType::Message => {
                let body: serde_json::Value = serde_json::from_str(event.body.as_deref()?).ok()?;
                (body["hook"].as_str()?.to_owned(), body["ms"].as_u64())
            }
            EventType::Disconnect => return None,
        };
        match name.as_str() {
            "panic" => Some(Hook::Panic),
            "sleep" => Some(Hook::Sleep(Duration::from_millis(ms.unwrap_or(0)))),
            _ => None,
        }
    }
}
