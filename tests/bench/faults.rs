//! The fault campaign: fresh stacks deployed, redeployed and torn down
//! through a proxy that plays AWS's behaviours (IAM propagation, Lambda's
//! Pending/InProgress, API Gateway's 429, DynamoDB's CREATING) and injects
//! faults (500/503, throttling, dropped connections, lost replies, stalls)
//! into 5 % and 20 % of requests. Every outcome is checked against moto directly.

use wschat_test_support::bench as report;
use wschat_test_support::campaign::{cycle, Cycle};
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::Proxy;
use wschat_test_support::realism::{Faults, Realism};

const CYCLES: usize = 20;

fn main() {
    if !report::benchmarking() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_wschat");
    let zips = report::package_zips(bin);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::shared();
    let mut rows = Vec::new();
    println!("| fault rate | deploy ok first run | redeploys with 0 writes | teardown ok first run | leftovers | duplicate APIs | URL changed | deploy p50 |");
    println!("|---|---|---|---|---|---|---|---|");
    for rate in [0.05, 0.2] {
        let proxy = runtime.block_on(Proxy::start(&moto.endpoint));
        proxy.realistic(Realism::default());
        proxy.faults(Some(Faults::new(
            rate,
            wschat_test_support::realism::seed("faults bench"),
        )));
        let cycles: Vec<Cycle> = (0..CYCLES)
            .map(|i| {
                let name = unique(&format!("fc{}x{i}", (rate * 100.0) as u32));
                let _guard = runtime.enter();
                cycle(bin.as_ref(), &proxy, &moto.endpoint, &zips, &name, "20s")
            })
            .collect();
        let count = |f: &dyn Fn(&Cycle) -> bool| cycles.iter().filter(|c| f(c)).count();
        let mut seconds: Vec<f64> = cycles.iter().map(|c| c.deploy_seconds).collect();
        seconds.sort_by(f64::total_cmp);
        let p50 = seconds[seconds.len() / 2];
        println!(
            "| {:.0} % | {}/{CYCLES} | {}/{CYCLES} | {}/{CYCLES} | {} | {} | {} | {p50:.1} s |",
            rate * 100.0,
            count(&|c| c.deploy_ok),
            count(&|c| c.redeploy_ok && c.redeploy_writes == 0),
            count(&|c| c.teardown_ok),
            cycles.iter().map(|c| c.leftovers.len()).sum::<usize>(),
            cycles.iter().map(|c| c.duplicate_apis).sum::<usize>(),
            count(&|c| !c.url_stable),
        );
        for (i, c) in cycles.iter().enumerate().filter(|(_, c)| !c.clean()) {
            println!("  cycle {i}: {c:?}");
        }
        rows.push(serde_json::json!({ "fault_rate": rate, "cycles": cycles }));
    }
    report::write("faults", &serde_json::json!({ "runs": rows }));
}
