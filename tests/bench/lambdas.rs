//! The Lambda functions: zipped size, and init time (process start to the
//! first Runtime API poll) over repeated cold starts. The three zips hold the
//! same `bootstrap`; each is measured as its function, under its own name.

use wschat_test_support::bench as report;
use wschat_test_support::runtime_api;

use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 50;

fn main() {
    if !report::benchmarking() {
        return;
    }
    let zips = report::package_zips(env!("CARGO_BIN_EXE_wschat"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    println!("| function | zip size | init p50 | init p99 | init min |");
    println!("|---|---|---|---|---|");
    for function in ["connect", "disconnect", "message"] {
        let zip_path = zips.join(format!("{function}.zip"));
        let zip = std::fs::read(&zip_path).unwrap();
        // The bytes in the zip: cargo's output directory depends on the
        // builder (zigbuild puts it under the target triple).
        let binary = wschat_test_support::unzip_bootstrap(&zip_path);
        let mut inits = Vec::new();
        for _ in 0..RUNS {
            inits.push(runtime.block_on(async {
                let api = runtime_api::RuntimeApi::start().await;
                let started = Instant::now();
                let mut child = Command::new(&binary)
                    .envs(api.lambda_env(function))
                    .env("TABLE_NAME", "bench")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let first_poll = api.wait_first_poll(function).await;
                let _ = child.kill();
                let _ = child.wait();
                first_poll - started
            }));
        }
        inits.sort();
        let (p50, p99, min) = (
            report::percentile(&inits, 50.0),
            report::percentile(&inits, 99.0),
            inits[0],
        );
        println!(
            "| {function} | {:.2} MB | {} ms | {} ms | {} ms |",
            zip.len() as f64 / 1e6,
            report::ms(p50),
            report::ms(p99),
            report::ms(min)
        );
        rows.push(serde_json::json!({
            "function": function, "zip_bytes": zip.len(), "runs": RUNS,
            "init_ms": { "p50": report::ms(p50), "p99": report::ms(p99), "min": report::ms(min) }
        }));
    }
    report::write("lambdas", &serde_json::json!({ "functions": rows }));
}
