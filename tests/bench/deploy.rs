//! Deploy, no-op redeploy and teardown against moto with a fixed delay added
//! to every AWS request, so the critical path shows: how many calls, how many
//! of them sequential, and the wall time.

use wschat_test_support::bench as report;
use wschat_test_support::moto;
use wschat_test_support::proxy;

use std::process::Command;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(50);

fn wschat(endpoint: &str, name: &str, args: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_wschat").as_ref();
    let mut cmd = wschat_test_support::wschat_aws(bin, endpoint, name);
    cmd.arg("--quiet").args(args);
    cmd
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let zips = report::package_zips(env!("CARGO_BIN_EXE_wschat"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let moto = moto::Moto::shared();
    let proxy = runtime.block_on(proxy::Proxy::start(&moto.endpoint));
    proxy.set_delay(DELAY);
    let name = moto::unique("bench");
    let page = std::env::temp_dir().join(format!("{name}.html"));
    let zips_arg = zips.display().to_string();
    let page_arg = page.display().to_string();
    let steps: [(&str, Vec<&str>); 3] = [
        (
            "deploy",
            vec!["deploy", "--prebuilt", &zips_arg, "--web-client", &page_arg],
        ),
        (
            "redeploy (no change)",
            vec!["deploy", "--prebuilt", &zips_arg, "--web-client", &page_arg],
        ),
        ("teardown", vec!["teardown", "--yes"]),
    ];
    let mut rows = Vec::new();
    println!("per-request delay: {} ms\n", DELAY.as_millis());
    println!("| step | AWS calls | writes | sequential round trips | wall time |");
    println!("|---|---|---|---|---|");
    for (step, args) in steps {
        proxy.take();
        let started = Instant::now();
        let status = wschat(&proxy.endpoint, &name, &args).status().unwrap();
        let wall = started.elapsed();
        assert!(status.success(), "{step} failed");
        let calls = proxy.take();
        let writes = calls.iter().filter(|c| c.write).count();
        let chain = proxy::sequential_round_trips(&calls);
        println!(
            "| {step} | {} | {writes} | {chain} | {:.2} s |",
            calls.len(),
            wall.as_secs_f64()
        );
        rows.push(serde_json::json!({
            "step": step, "calls": calls.len(), "writes": writes, "sequential_round_trips": chain,
            "wall_seconds": wall.as_secs_f64(),
        }));
    }
    report::write(
        "deploy",
        &serde_json::json!({ "delay_ms": DELAY.as_millis() as u64, "steps": rows }),
    );
}
