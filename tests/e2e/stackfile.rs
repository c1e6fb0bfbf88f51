//! `wschat.toml`: `init`, deploy and status from the file, flags over it, the
//! settings recorded on the stack, and bad files.

use crate::harness::{lambda_zips, run, wschat, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::Proxy;

/// A fresh project directory.
pub fn project(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wschat-project-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `wschat` run in `dir`, with credentials and an endpoint but no name or region:
/// those come from the file.
fn wschat_in(dir: &Path, endpoint: &str) -> Command {
    let mut cmd = wschat();
    cmd.current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["--endpoint-url", endpoint]);
    cmd
}

async fn wschat_run(dir: &Path, endpoint: &str, args: &[&str]) -> Run {
    let mut cmd = wschat_in(dir, endpoint);
    cmd.args(args);
    run(cmd).await
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("wschat.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} in\n{text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_described_in_wschat_toml() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("file");
    let dir = project(&name);
    let zips = lambda_zips().to_str().unwrap();

    let init = wschat_run(&dir, &proxy.endpoint, &["--name", &name, "init"]).await;
    assert_eq!(init.code, 0, "{}", init.stderr);
    edit(&dir, "# region = \"us-east-1\"", "region = \"us-east-1\"");
    let again = wschat_run(&dir, &proxy.endpoint, &["init"]).await;
    assert_eq!(again.code, 2, "init never overwrites");
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    // From a subdirectory, as cargo finds Cargo.toml.
    let sub = dir.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let deploy = wschat_run(
        &sub,
        &proxy.endpoint,
        &[
            "-v",
            "--output",
            "json",
            "deploy",
            "--prebuilt",
            zips,
            "--no-web-client",
        ],
    )
    .await;
    assert_eq!(deploy.code, 0, "{}{}", deploy.stdout, deploy.stderr);
    let report = deploy.json();
    assert_eq!(report["stack"], format!("{name}-dev"));
    assert_eq!(report["region"], "us-east-1");
    assert!(report["web_client"].is_null(), "--no-web-client");
    assert!(
        deploy.stderr.contains("memory = 128 (")
            && deploy.stderr.contains("wschat.toml [defaults])"),
        "-v says where each value came from:\n{}",
        deploy.stderr
    );
    let status = wschat_run(&dir, &proxy.endpoint, &["status"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);

    // The file changes: status reports the drift from the file.
    edit(&dir, "memory = 128", "memory = 256");
    let drifted = wschat_run(&dir, &proxy.endpoint, &["--output", "json", "status"]).await;
    assert_eq!(drifted.code, 3, "{}", drifted.stdout);
    let functions: Vec<_> = drifted.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "function")
        .cloned()
        .collect();
    assert_eq!(functions.len(), 4);
    let (deliver, functions): (Vec<_>, Vec<_>) = functions
        .into_iter()
        .partition(|f| f["name"].as_str().is_some_and(|n| n.ends_with("-deliver")));
    assert_eq!(
        deliver[0]["state"], "present",
        "its 1,024 MB floor is above both: {deliver:?}"
    );
    for f in &functions {
        assert_eq!(f["state"], "drifted", "{f}");
        assert_eq!(f["cause"], "settings", "{f}");
        assert_eq!(f["differences"][0], "memory 128 → 256 MB", "{f}");
    }
    let text = wschat_run(&dir, &proxy.endpoint, &["status"]).await.stdout;
    assert!(
        text.contains("differs from") && text.contains("wschat.toml"),
        "{text}"
    );

    // A flag overrides the file for one run.
    let flagged = wschat_run(&dir, &proxy.endpoint, &["status", "--memory", "128"]).await;
    assert_eq!(flagged.code, 0, "{}{}", flagged.stdout, flagged.stderr);

    // Deployed from the file, then changed behind wschat's back.
    let redeploy = wschat_run(
        &dir,
        &proxy.endpoint,
        &["deploy", "--prebuilt", zips, "--no-web-client"],
    )
    .await;
    assert_eq!(redeploy.code, 0, "{}", redeploy.stderr);
    assert_eq!(wschat_run(&dir, &proxy.endpoint, &["status"]).await.code, 0);
    let lambda = aws_sdk_lambda::Client::new(&moto.sdk_config().await);
    lambda
        .update_function_configuration()
        .function_name(format!("{name}-dev-message"))
        .timeout(60)
        .send()
        .await
        .unwrap();
    let outside = wschat_run(&dir, &proxy.endpoint, &["--output", "json", "status"]).await;
    assert_eq!(outside.code, 3);
    let message = outside.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == format!("{name}-dev-message"))
        .cloned()
        .unwrap();
    assert_eq!(message["state"], "drifted", "{message}");
    assert_eq!(message["cause"], "outside", "{message}");
    let text = wschat_run(&dir, &proxy.endpoint, &["status"]).await.stdout;
    assert!(text.contains("changed outside wschat"), "{text}");

    // With no file at all, status checks against what the last deploy applied.
    let elsewhere = project(&format!("{name}-elsewhere"));
    let recorded = wschat_run(
        &elsewhere,
        &proxy.endpoint,
        &[
            "--name",
            &name,
            "--region",
            "us-east-1",
            "--output",
            "json",
            "status",
        ],
    )
    .await;
    assert_eq!(recorded.code, 3, "the console edit is still there");
    let drifted: Vec<_> = recorded.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] != "present")
        .map(|r| (r["name"].clone(), r["cause"].clone()))
        .collect();
    assert_eq!(
        drifted,
        vec![(format!("{name}-dev-message").into(), "outside".into())],
        "memory 256 was recorded, so only the timeout differs"
    );

    let down = wschat_run(&dir, &proxy.endpoint, &["teardown", "--yes"]).await;
    assert_eq!(down.code, 0, "{}", down.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&elsewhere);
}

#[tokio::test]
async fn bad_files_fail_with_line_and_column_before_any_request() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let dir = project(&unique("bad"));
    for (text, needle) in [
        (
            "name = \"chat\"\n[defaults]\nmemroy = 256\n",
            "wschat.toml:3:1: unknown field `memroy`, expected one of `region`, `profile`, `memory`",
        ),
        ("name = \"chat\n", "wschat.toml:1:"),
        (
            "[stages.prod]\nlog-retention = 10\n",
            "wschat.toml:2:17: log-retention: CloudWatch Logs accepts",
        ),
        ("[defaults]\nauth = \"magic\"\n", "wschat.toml:2:8: auth: 'magic'"),
        ("stages = 3\n", "wschat.toml:1:10:"),
    ] {
        std::fs::write(dir.join("wschat.toml"), text).unwrap();
        for command in [&["status"][..], &["deploy", "--dry-run"], &["connections"]] {
            let out = wschat_run(&dir, &proxy.endpoint, command).await;
            assert_eq!(out.code, 2, "{command:?} {text:?}: {}", out.stderr);
            assert!(out.stderr.contains(needle), "{text:?}:\n{}", out.stderr);
        }
    }
    assert!(proxy.take().is_empty(), "no request reached AWS");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn web_client_flags_are_checked_before_anything_runs() {
    let out = run({
        let mut c = wschat();
        c.args(["deploy", "--web-client", "x.html", "--no-web-client"]);
        c
    })
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}
