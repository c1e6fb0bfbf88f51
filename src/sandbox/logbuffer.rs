//! The sandbox's handler logs: the same JSON lines the Lambdas write to
//! CloudWatch, kept in a bounded ring for `wschat logs --local`.

use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// The ring keeps at most this many lines, and at most this many bytes of them.
const CAPACITY: usize = 10_000;
const MAX_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub seq: u64,
    /// Epoch ms.
    pub ts: i64,
    /// `connect`, `disconnect` or `message`: the function that would have logged it.
    pub function: String,
    pub message: String,
}

#[derive(Default)]
struct Ring {
    /// The last sequence number given.
    seq: u64,
    lines: VecDeque<LogLine>,
    /// The bytes of every line's message.
    bytes: usize,
}

#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<Ring>>,
    echo: bool,
}

impl LogBuffer {
    pub fn new(echo: bool) -> Self {
        LogBuffer {
            inner: Arc::default(),
            echo,
        }
    }

    /// A tracing event's line, attributed to the function whose span it is in.
    fn push(&self, json_line: &str) {
        let value: serde_json::Value = serde_json::from_str(json_line).unwrap_or_default();
        let function = value["span"]["function"].as_str().unwrap_or("sandbox");
        self.push_from(function, json_line);
    }

    /// A line `function` wrote (echoed to stderr with `-v`).
    pub fn push_from(&self, function: &str, json_line: &str) {
        if self.echo {
            eprintln!("{json_line}");
        }
        let function = function.to_owned();
        let mut ring = self.inner.lock().unwrap();
        ring.seq += 1;
        let line = LogLine {
            seq: ring.seq,
            ts: wschat_lambdas::clock::now_ms(),
            function,
            message: json_line.to_owned(),
        };
        ring.bytes += line.message.len();
        ring.lines.push_back(line);
        while ring.lines.len() > CAPACITY || (ring.bytes > MAX_BYTES && ring.lines.len() > 1) {
            if let Some(old) = ring.lines.pop_front() {
                ring.bytes -= old.message.len();
            }
        }
    }

    pub fn since(&self, after: u64) -> Vec<LogLine> {
        self.inner
            .lock()
            .unwrap()
            .lines
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_bounded_in_lines_and_in_bytes() {
        let logs = LogBuffer::new(false);
        for _ in 0..CAPACITY + 5 {
            logs.push("{}");
        }
        assert_eq!(logs.since(0).len(), CAPACITY);
        let big = format!("{{\"m\":\"{}\"}}", "x".repeat(100_000));
        for _ in 0..200 {
            logs.push(&big);
        }
        let kept = logs.since(0);
        let bytes: usize = kept.iter().map(|l| l.message.len()).sum();
        assert!(bytes <= MAX_BYTES, "{bytes} bytes kept");
        assert_eq!(
            kept.last().unwrap().seq,
            (CAPACITY + 205) as u64,
            "the newest stay"
        );
    }
}
