//! Deploy, no-op redeploy and teardown against moto with a fixed delay added
//! to every AWS request, so the critical path shows: how many calls, how many
//! of them sequential, and the wall time.

use wschat_test_support::bench as report;
use wschat_test_support::moto;
use wschat_test_support::proxy;
use wschat_test_support::realism::Realism;

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
    let zips_arg = zips.display().to_string();
    println!("per-request delay: {} ms", DELAY.as_millis());
    let mut worlds = Vec::new();
    // Plain moto, then moto behaving as AWS does: a role Lambda cannot assume
    // for its first seconds, functions Pending after create, API Gateway's
    // 429 above a rate, a table that stays CREATING.
    for realism in [None, Some(Realism::default())] {
        let proxy = runtime.block_on(proxy::Proxy::start(&moto.endpoint));
        proxy.set_delay(DELAY);
        if let Some(realism) = &realism {
            proxy.realistic(realism.clone());
        }
        let world = match &realism {
            None => "moto".to_owned(),
            Some(r) => format!(
                "realism (IAM propagation {} s, Lambda Pending {} ms, table CREATING {} s, API Gateway {}/s)",
                r.iam_propagation.as_secs(),
                r.lambda_settle.as_millis(),
                r.table_settle.as_secs(),
                r.apigw_per_second
            ),
        };
        let name = moto::unique("bench");
        let page = std::env::temp_dir().join(format!("{name}.html"));
        let page_arg = page.display().to_string();
        let deploy = vec!["deploy", "--prebuilt", &zips_arg, "--web-client", &page_arg];
        let steps: [(&str, Vec<&str>); 4] = [
            ("deploy (nothing exists)", deploy.clone()),
            ("redeploy (no change)", deploy),
            ("status (with health)", vec!["status"]),
            ("teardown", vec!["teardown", "--yes"]),
        ];
        println!("\n{world}\n");
        println!("| step | AWS calls | writes | sequential round trips | without health's calls | wall time |");
        println!("|---|---|---|---|---|---|");
        // moto loads each service on its first request, in seconds: a status
        // of a stack that does not exist yet touches every service first.
        let _ = wschat(&proxy.endpoint, &name, &["status"]).output();
        let mut rows = Vec::new();
        for (step, args) in steps {
            proxy.take();
            let started = Instant::now();
            let status = wschat(&proxy.endpoint, &name, &args).status().unwrap();
            let wall = started.elapsed();
            assert!(status.success(), "{step} failed");
            let calls = proxy.take();
            let writes = calls.iter().filter(|c| c.write).count();
            let path = proxy::critical_path(&calls);
            // What the path would be without status's health reads (its
            // DescribeAlarms for alarms firing shares a name with the
            // resource check's, and stays in).
            let others: Vec<proxy::Call> = calls
                .iter()
                .filter(|c| !matches!(c.operation.as_str(), "GetMetricData" | "GetServiceQuota"))
                .cloned()
                .collect();
            let without_health = proxy::critical_path(&others);
            let t0 = started;
            let timeline: Vec<_> = calls
                .iter()
                .map(|c| {
                    let at = |t: Instant| t.duration_since(t0).as_millis() as u64;
                    format!(
                        "{} {}:{} {}",
                        at(c.started),
                        c.service,
                        c.operation,
                        at(c.finished)
                    )
                })
                .collect();
            println!(
                "| {step} | {} | {writes} | {} | {} | {:.2} s |",
                calls.len(),
                path.len(),
                without_health.len(),
                wall.as_secs_f64()
            );
            rows.push(serde_json::json!({
                "step": step, "calls": calls.len(), "writes": writes,
                "sequential_round_trips": path.len(), "critical_path": path, "timeline_ms": timeline,
                "sequential_round_trips_without_health": without_health.len(),
                "wall_seconds": wall.as_secs_f64(),
            }));
        }
        println!(
            "\ncritical path of the deploy: {}",
            rows[0]["critical_path"]
        );
        worlds.push(serde_json::json!({ "world": world, "steps": rows }));
    }
    report::write(
        "deploy",
        &serde_json::json!({ "delay_ms": DELAY.as_millis() as u64, "worlds": worlds }),
    );
}
