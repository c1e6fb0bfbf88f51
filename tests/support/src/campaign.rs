//! A fault campaign: fresh stacks deployed, redeployed and torn down through
//! the proxy with AWS's behaviours on and faults injected, each outcome
//! checked against moto directly. The test runs a short one, the benchmark a long one.

use crate::proxy::{writes, Proxy};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// What one deploy → redeploy → teardown cycle did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cycle {
    pub deploy_ok: bool,
    pub redeploy_ok: bool,
    pub redeploy_writes: usize,
    pub url_stable: bool,
    pub duplicate_apis: usize,
    pub teardown_ok: bool,
    /// Resources a fault-free teardown still found afterwards.
    pub leftovers: Vec<String>,
    pub deploy_seconds: f64,
    /// stderr of the first failing step, if any.
    pub failure: Option<String>,
}

impl Cycle {
    pub fn clean(&self) -> bool {
        self.deploy_ok
            && self.redeploy_ok
            && self.redeploy_writes == 0
            && self.url_stable
            && self.duplicate_apis == 0
            && self.teardown_ok
            && self.leftovers.is_empty()
    }
}

fn run(mut cmd: Command) -> (bool, Value, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("wschat runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One cycle for the stack `name`, through `proxy` (faults as it is set), checked against `moto`.
pub fn cycle(
    bin: &Path,
    proxy: &Proxy,
    moto: &str,
    zips: &Path,
    name: &str,
    timeout: &str,
) -> Cycle {
    let wschat = |endpoint: &str, args: &[&str]| {
        let mut cmd = crate::wschat_aws(bin, endpoint, name);
        cmd.args(["--output", "json", "--request-timeout", timeout])
            .args(args);
        cmd
    };
    let page = std::env::temp_dir().join(format!("{name}.html"));
    let deploy = [
        "deploy",
        "--prebuilt",
        zips.to_str().unwrap(),
        "--web-client",
        page.to_str().unwrap(),
    ];
    let mut failure = None;
    let started = std::time::Instant::now();
    let (deploy_ok, first, err) = run(wschat(&proxy.endpoint, &deploy));
    let deploy_seconds = started.elapsed().as_secs_f64();
    if !deploy_ok {
        failure.get_or_insert(err);
        // Converge, so the rest of the cycle still means something.
        run(wschat(&proxy.endpoint, &deploy));
    }
    proxy.take();
    let (redeploy_ok, second, err) = run(wschat(&proxy.endpoint, &deploy));
    if !redeploy_ok {
        failure.get_or_insert(err);
    }
    let redeploy_writes = writes(&proxy.take()).len();
    let url = |report: &Value| report["websocket_url"].as_str().map(str::to_owned);
    let url_stable = url(&first).is_some() && url(&first) == url(&second)
        || !deploy_ok && url(&second).is_some();
    let (_, status, _) = run(wschat(moto, &["status"]));
    let apis = status["resources"]
        .as_array()
        .map(|r| r.iter().filter(|r| r["kind"] == "websocket api").count())
        .unwrap_or(0);
    let (teardown_ok, _, err) = run(wschat(&proxy.endpoint, &["teardown", "--yes"]));
    if !teardown_ok {
        failure.get_or_insert(err);
    }
    let (_, check, _) = run(wschat(moto, &["teardown", "--yes"]));
    let leftovers = check["resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|r| r["change"] != "absent")
                .map(|r| {
                    format!(
                        "{} {}",
                        r["kind"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_else(|| vec!["(no teardown report)".to_owned()]);
    Cycle {
        deploy_ok,
        redeploy_ok,
        redeploy_writes,
        url_stable,
        duplicate_apis: apis.saturating_sub(1),
        teardown_ok,
        leftovers,
        deploy_seconds,
        failure,
    }
}
