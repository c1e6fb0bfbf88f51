//! Shared by the benchmarks: percentiles, and writing results where anyone can find them.

use std::path::PathBuf;
use std::time::Duration;

/// `cargo test --all-targets` also runs bench targets; only `cargo bench` (which passes `--bench`) measures.
pub fn benchmarking() -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        println!("skipped: run `cargo bench` to measure");
    }
    yes
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

/// Writes `target/bench/{name}.json` and says where.
pub fn write(name: &str, results: &serde_json::Value) -> PathBuf {
    let dir = crate::repo_root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    let mut results = results.clone();
    results["machine"] = serde_json::json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "measured_at_epoch_s": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("results written to {}", path.display());
    path
}

/// Peak and current resident memory of a process, in MB, from /proc.
pub fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The three function zips, built by `wschat` (this path) `package` into `target/bench/zips`.
pub fn package_zips(wschat: &str) -> PathBuf {
    let zips = crate::repo_root().join("target/bench/zips");
    crate::package_zips(wschat.as_ref(), &zips);
    zips
}
