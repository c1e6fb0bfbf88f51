//! The sandbox's handler logs: the same JSON lines the Lambdas write to
//! CloudWatch, kept in a bounded ring for `wschat logs --local`.

use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub seq: u64,
    /// Epoch ms.
    pub ts: i64,
    /// `connect`, `disconnect` or `message`: the function that would have logged it.
    pub function: String,
    pub message: String,
}

#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<(u64, VecDeque<LogLine>)>>,
    echo: bool,
}

impl LogBuffer {
    pub fn new(echo: bool) -> Self {
        LogBuffer {
            inner: Arc::default(),
            echo,
        }
    }

    fn push(&self, json_line: &str) {
        let value: serde_json::Value = serde_json::from_str(json_line).unwrap_or_default();
        let function = value["span"]["function"]
            .as_str()
            .unwrap_or("sandbox")
            .to_owned();
        let mut inner = self.inner.lock().unwrap();
        inner.0 += 1;
        let line = LogLine {
            seq: inner.0,
            ts: wschat_lambdas::chat::now_ms(),
            function,
            message: json_line.to_owned(),
        };
        if inner.1.len() == CAPACITY {
            inner.1.pop_front();
        }
        inner.1.push_back(line);
    }

    pub fn since(&self, after: u64) -> Vec<LogLine> {
        self.inner
            .lock()
            .unwrap()
            .1
            .iter()
            .filter(|l| l.seq > after)
            .cloned()
            .collect()
    }
}

/// One tracing event arrives as one `write` of a JSON line.
pub struct LineWriter(LogBuffer);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if self.0.echo {
                eprintln!("{line}");
            }
            self.0.push(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self.clone())
    }
}

/// Routes the handlers' logs into `buffer` (and to stderr with `-v`).
pub fn install(buffer: &LogBuffer) {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn".into()),
        )
        .with_writer(buffer.clone())
        .try_init();
}
