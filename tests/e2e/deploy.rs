//! `wschat deploy`, `status` and `teardown`: the real binary against moto,
//! through a recording proxy that counts what was written.

use crate::checks::{check_nothing_left, check_stack, moto_stack};
use crate::harness::{lambda_zips, run, wschat, wschat_aws, Run};
use serde_json::Value;
use std::collections::HashMap;
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::{writes, Proxy};

async fn deploy(proxy: &Proxy, name: &str, extra: &[&str]) -> Run {
    let mut cmd = wschat_aws(&proxy.endpoint, name);
    cmd.args(["--output", "json", "deploy", "--prebuilt"])
        .arg(lambda_zips())
        .args(extra);
    cmd.arg("--web-client")
        .arg(std::env::temp_dir().join(format!("{name}.html")));
    let out = run(cmd).await;
    assert_eq!(
        out.code, 0,
        "deploy failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out
}

fn changes(report: &Value) -> Vec<(String, String)> {
    let mut changed: Vec<(String, String)> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] != "unchanged")
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    changed.sort();
    changed
}

/// Every resource of a stack, as a fresh deploy reports it: (kind, change).
fn everything(change: &str) -> Vec<(String, String)> {
    let counts = [
        ("alarms", 1),
        ("dashboard", 1),
        ("function", 4),
        ("iam policy", 1),
        ("iam role", 1),
        ("integration", 3),
        ("invoke config", 1),
        ("log group", 4),
        ("permission", 3),
        ("queue", 1),
        ("route", 8),
        ("stage", 1),
        ("table", 2),
        ("websocket api", 1),
    ];
    counts
        .iter()
        .flat_map(|(kind, n)| vec![(kind.to_string(), change.to_owned()); *n])
        .collect()
}

/// Writes per service, from the proxy's record.
fn writes_by_service(calls: &[wschat_test_support::proxy::Call]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for w in writes(calls) {
        let service = w.split(':').next().unwrap_or_default().to_owned();
        *counts.entry(service).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_converges_redeploys_without_writes_and_tears_down_completely() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("life");
    let stack = moto_stack(&name).await;

    let plan = deploy(&proxy, &name, &["--dry-run"]).await.json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(changes(&plan), everything("created"), "{plan}");
    assert!(plan["web_client"].is_null());
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "a dry run writes nothing"
    );

    let first = deploy(&proxy, &name, &[]).await.json();
    assert_eq!(changes(&first), everything("created"), "{first}");
    let ws = first["websocket_url"].as_str().unwrap();
    let api_id = ws
        .strip_prefix("wss://")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    check_stack(&stack, &api_id, lambda_zips()).await;
    let page = std::fs::read_to_string(first["web_client"].as_str().unwrap()).unwrap();
    assert!(
        page.contains(ws) && !page.contains("{{WEBSOCKET_URL}}"),
        "the web client has the URL filled in"
    );
    let created = proxy.take();
    // Each resource written once: no create repeated, no update after a create.
    let expected: HashMap<String, usize> = [
        ("dynamodb", 4),    // CreateTable, UpdateTimeToLive, for each table
        ("logs", 8),        // CreateLogGroup, PutRetentionPolicy
        ("iam", 2),         // CreateRole, PutRolePolicy
        ("lambda", 8),      // CreateFunction ×4, AddPermission ×3, PutFunctionEventInvokeConfig
        ("sqs", 1),         // CreateQueue
        ("apigateway", 13), // CreateApi, 3 integrations, 8 routes, CreateStage
        ("monitoring", 10), // PutMetricAlarm ×9, PutDashboard
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), n))
    .collect();
    assert_eq!(
        writes_by_service(&created),
        expected,
        "{:?}",
        writes(&created)
    );

    let again = deploy(&proxy, &name, &[]).await.json();
    assert!(changes(&again).is_empty(), "{again}");
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "a redeploy with nothing changed writes nothing"
    );

    let status = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["--output", "json", "status"]);
        c
    })
    .await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert_eq!(status.json()["complete"], true);
    assert_eq!(status.json()["connections"], 0);
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "status writes nothing"
    );

    let retention = deploy(&proxy, &name, &["--log-retention", "30"])
        .await
        .json();
    assert_eq!(
        changes(&retention),
        vec![("log group".into(), "updated".into()); 4]
    );
    let retention_writes = writes(&proxy.take());
    assert_eq!(
        retention_writes
            .iter()
            .filter(|w| *w == "logs:PutRetentionPolicy")
            .count(),
        4,
        "{retention_writes:?}"
    );
    assert_eq!(
        retention_writes.len(),
        5,
        "and one TagResource recording the settings applied: {retention_writes:?}"
    );

    let memory = deploy(&proxy, &name, &["--log-retention", "30", "--memory", "256"])
        .await
        .json();
    // The delivery function keeps its 1,024 MB floor: three updates.
    assert_eq!(
        changes(&memory),
        vec![("function".into(), "updated".into()); 3]
    );
    let memory_writes = writes(&proxy.take());
    let lambda_writes: Vec<_> = memory_writes
        .iter()
        .filter(|w| w.starts_with("lambda:"))
        .collect();
    assert_eq!(lambda_writes.len(), 3, "{memory_writes:?}");
    assert!(
        lambda_writes
            .iter()
            .all(|w| w.starts_with("lambda:PUT") && w.ends_with("/configuration")),
        "config only, no code upload: {memory_writes:?}"
    );
    assert_eq!(memory_writes.len(), 4, "and the record: {memory_writes:?}");

    // Someone else's plain status, with no flags and no wschat.toml, checks the
    // stack against what the last deploy applied.
    let plain = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["status"]);
        c
    })
    .await;
    assert_eq!(plain.code, 0, "{}{}", plain.stdout, plain.stderr);
    let drifted = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["status", "--memory", "128"]);
        c
    })
    .await;
    assert_eq!(drifted.code, 3, "a flag differs from the deployed settings");
    assert!(
        drifted.stdout.contains("drifted")
            && drifted.stdout.contains("memory 256 → 128 MB")
            && drifted.stdout.contains("differs from the flags"),
        "{}",
        drifted.stdout
    );

    let down = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["--output", "json", "teardown", "--yes"]);
        c
    })
    .await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(down.json()["leftovers"], serde_json::json!([]));
    check_nothing_left(&stack).await;

    let gone = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["status"]);
        c
    })
    .await;
    assert_eq!(gone.code, 3);
    assert!(gone.stdout.contains("missing"), "{}", gone.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_part_way_converges_on_the_next_run() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("kill");
    // Each run continues where the last one was killed, so the points add up:
    // about writes 1, 6, 11 and 16 of a fresh deploy's 27 (early, middle, late).
    // Each run still has more than 6 writes to make, so each is really killed.
    for kill_at in [1, 6, 6, 6] {
        let mut cmd = wschat_aws(&proxy.endpoint, &name);
        cmd.args(["--quiet", "deploy", "--prebuilt"])
            .arg(lambda_zips());
        cmd.arg("--web-client")
            .arg(std::env::temp_dir().join(format!("{name}.html")));
        let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
        proxy.kill_at_write(child.id(), kill_at);
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the proxy killed the deploy at write {kill_at}: {status}"
        );
    }
    proxy.take();
    let converged = deploy(&proxy, &name, &[]).await.json();
    assert!(converged["websocket_url"].as_str().is_some());
    let status = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["--output", "json", "status"]);
        c
    })
    .await;
    assert_eq!(status.code, 0, "{}", status.stdout);
    let again = deploy(&proxy, &name, &[]).await.json();
    assert!(changes(&again).is_empty(), "{again}");
    let mut down = wschat_aws(&proxy.endpoint, &name);
    down.args(["teardown", "--yes"]);
    assert_eq!(run(down).await.code, 0);
    check_nothing_left(&moto_stack(&name).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_leaves_resources_that_are_not_this_stacks() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("foreign");
    let table = format!("{name}-dev-connections");
    crate::harness::connections_table(&table).await;
    let mut down = wschat_aws(&proxy.endpoint, &name);
    down.args(["teardown", "--yes"]);
    let out = run(down).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("not tagged as this stack's"),
        "{}",
        out.stdout
    );
    let connections = wschat::stack::table::Table::Connections;
    let found = wschat::stack::table::find(&moto_stack(&name).await, connections).await;
    assert!(found.unwrap().is_some(), "the untagged table survives");
    assert!(writes(&proxy.take()).is_empty());
}

#[tokio::test]
async fn bad_input_fails_before_any_aws_call() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    for (args, needle) in [
        (vec!["--name", "1bad", "deploy"], "invalid --name"),
        (
            vec!["--name", "ok", "--stage", "no/slash", "status"],
            "invalid --stage",
        ),
        (
            vec!["--name", "has_underscore", "teardown", "--yes"],
            "invalid --name",
        ),
        (
            vec!["--name", "ok", "deploy", "--throttle-rate", "NaN"],
            "not a rate",
        ),
    ] {
        let mut cmd = wschat();
        cmd.env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args(["--endpoint-url", &proxy.endpoint, "--region", "us-east-1"]);
        cmd.args(&args);
        let out = run(cmd).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{}", out.stderr);
    }
    let mut bad_retention = wschat_aws(&proxy.endpoint, "ok");
    bad_retention.args(["deploy", "--log-retention", "10"]);
    let out = run(bad_retention).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("CloudWatch Logs accepts"),
        "{}",
        out.stderr
    );
    assert!(proxy.take().is_empty(), "no request reached AWS");

    let mut no_credentials = wschat();
    no_credentials.args([
        "--region",
        "us-east-1",
        "--endpoint-url",
        &proxy.endpoint,
        "status",
    ]);
    let out = run(no_credentials).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("credentials") && out.stderr.contains("wschat dev"),
        "{}",
        out.stderr
    );
    // One line and its hint, no Rust debug structures.
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    assert!(!out.stderr.contains('{'), "{}", out.stderr);
    for fix in ["aws configure", "--profile", "AWS_PROFILE", "aws sso login"] {
        assert!(out.stderr.contains(fix), "names {fix}: {}", out.stderr);
    }

    // A region that is not one is named before any call, wherever it came from.
    for region in ["", "us-east-1;x", "../../x"] {
        let mut cmd = wschat();
        cmd.env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .args([
                "--endpoint-url",
                &proxy.endpoint,
                "--region",
                region,
                "status",
            ]);
        let out = run(cmd).await;
        assert_eq!(out.code, 2, "{region:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("--region"),
            "{region:?}: {}",
            out.stderr
        );
        let mut cmd = wschat();
        cmd.env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_REGION", region)
            .args(["--endpoint-url", &proxy.endpoint, "status"]);
        let out = run(cmd).await;
        if !region.is_empty() {
            assert_eq!(out.code, 2, "AWS_REGION={region:?}: {}", out.stderr);
            assert!(out.stderr.contains("AWS_REGION"), "{}", out.stderr);
        }
    }

    let mut no_region = wschat();
    no_region
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .args(["status"]);
    let out = run(no_region).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--region") && out.stderr.contains("wschat dev"),
        "{}",
        out.stderr
    );

    let mut unconfirmed = wschat_aws(&proxy.endpoint, "someone");
    unconfirmed.args(["teardown"]);
    let out = run(unconfirmed).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--yes"));
    assert!(writes(&proxy.take()).is_empty());
}

/// A plan needs no build: away from lambdas/, `deploy --dry-run` plans all
/// but the code, and says so. `--prebuilt` takes cargo-lambda's layout too.
#[tokio::test]
async fn plans_need_no_build_and_prebuilt_takes_cargo_lambdas_layout() {
    let proxy = Proxy::start(&Moto::shared().endpoint).await;
    let name = unique("plan");
    let plan = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["deploy", "--dry-run"]);
        c
    })
    .await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("would create"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("code          not compared"),
        "{}",
        plan.stdout
    );
    assert!(writes(&proxy.take()).is_empty());

    // cargo lambda build --output-format zip: target/lambda/bootstrap/bootstrap.zip.
    let lambda_dir = std::env::temp_dir().join(unique("cargo-lambda"));
    std::fs::create_dir_all(lambda_dir.join("bootstrap")).unwrap();
    std::fs::copy(
        lambda_zips().join("connect.zip"),
        lambda_dir.join("bootstrap/bootstrap.zip"),
    )
    .unwrap();
    for dir in [lambda_dir.clone(), lambda_dir.join("bootstrap")] {
        let planned = run({
            let mut c = wschat_aws(&proxy.endpoint, &name);
            c.args(["--output", "json", "deploy", "--dry-run", "--prebuilt"])
                .arg(&dir);
            c
        })
        .await;
        assert_eq!(planned.code, 0, "{}: {}", dir.display(), planned.stderr);
        assert_eq!(planned.json()["code_compared"], true);
    }
    let empty = std::env::temp_dir().join(unique("empty"));
    std::fs::create_dir_all(&empty).unwrap();
    let refused = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["deploy", "--dry-run", "--prebuilt"]).arg(&empty);
        c
    })
    .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("cargo lambda build") && refused.stderr.contains("wschat package"),
        "{}",
        refused.stderr
    );
    assert!(writes(&proxy.take()).is_empty());
}
