//! `wschat doctor`: ready against moto, and each piece broken in turn.

use crate::harness::{free_port, path_with_only, run, wschat, wschat_aws, Run};
use serde_json::Value;
use std::path::Path;
use wschat_test_support::moto::{unique, Moto};

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

async fn doctor(mut cmd: std::process::Command, extra: &[&str]) -> (Run, Value) {
    // From the checkout: the functions' source is found.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--output", "json", "doctor"])
        .args(extra);
    let out = run(cmd).await;
    let report = out.json();
    (out, report)
}

#[tokio::test]
async fn doctor_is_ready_against_moto_and_names_each_broken_piece() {
    let moto = Moto::shared();
    let (out, report) = doctor(wschat_aws(&moto.endpoint, &unique("doc")), &[]).await;
    assert_eq!(out.code, 0, "{report}");
    assert_eq!(report["ready"], true);
    assert!(check(&report, "identity")["detail"]
        .as_str()
        .unwrap()
        .contains("account"));
    assert_eq!(check(&report, "Lambda endpoint")["ok"], true);
    // The build deploy would run: zigbuild with glibc pinned when this machine's glibc is newer.
    let glibc = std::process::Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .unwrap();
    let glibc = String::from_utf8(glibc.stdout).unwrap();
    let glibc = glibc.trim().strip_prefix("glibc ").unwrap();
    let newer = glibc.split('.').nth(1).unwrap().parse::<u32>().unwrap() > 34;
    let build = check(&report, "build for x86_64")["detail"]
        .as_str()
        .unwrap();
    let expected = match newer {
        true => format!(
            "cargo zigbuild --target x86_64-unknown-linux-gnu.2.34 \
             (this machine's glibc {glibc} is newer than Lambda's 2.34)"
        ),
        false => "cargo build".to_owned(),
    };
    assert_eq!(build, expected);

    let mut no_credentials = wschat();
    no_credentials.args(["--region", "us-east-1", "--endpoint-url", &moto.endpoint]);
    let (out, report) = doctor(no_credentials, &[]).await;
    assert_eq!(out.code, 1);
    let credentials = check(&report, "credentials");
    assert_eq!(credentials["ok"], false);
    assert!(
        credentials["fix"]
            .as_str()
            .unwrap()
            .contains("AWS_ACCESS_KEY_ID"),
        "{credentials}"
    );

    let dead = format!("http://127.0.0.1:{}", free_port());
    let (out, report) = doctor(wschat_aws(&dead, "doc"), &[]).await;
    assert_eq!(out.code, 1);
    let endpoint = check(&report, "API Gateway endpoint");
    assert_eq!(endpoint["ok"], false, "{endpoint}");
    assert!(
        endpoint["detail"].as_str().unwrap().contains(&dead),
        "{endpoint}"
    );

    let empty = std::env::temp_dir().join(unique("no-tools"));
    std::fs::create_dir_all(&empty).unwrap();
    let mut no_cargo = wschat_aws(&moto.endpoint, "doc");
    no_cargo.env("PATH", &empty);
    let (out, report) = doctor(no_cargo, &[]).await;
    assert_eq!(out.code, 1);
    let cargo = check(&report, "cargo");
    assert_eq!(cargo["ok"], false);
    assert!(
        cargo["fix"].as_str().unwrap().contains("rustup.rs"),
        "{cargo}"
    );
    assert_eq!(
        check(&report, "identity")["ok"],
        true,
        "the rest still checked"
    );
    let _ = std::fs::remove_dir_all(&empty);

    // cargo but no zig nor cargo-zigbuild: the build line names both, with their installs.
    let only_cargo = path_with_only(&["cargo", "rustc"]);
    let mut no_zig = wschat_aws(&moto.endpoint, "doc");
    no_zig.env("PATH", &only_cargo);
    let (out, report) = doctor(no_zig, &["--builder", "zigbuild"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(check(&report, "cargo")["ok"], true);
    let build = check(&report, "build for x86_64");
    assert_eq!(build["ok"], false, "{build}");
    let fix = build["fix"].as_str().unwrap();
    assert!(
        fix.contains("pip install cargo-zigbuild") && fix.contains("pip install ziglang"),
        "{build}"
    );
    let _ = std::fs::remove_dir_all(&only_cargo);

    // arm64 cannot be built here: no aarch64 target on this machine.
    let (out, report) = doctor(wschat_aws(&moto.endpoint, "doc"), &["--arch", "arm64"]).await;
    assert_eq!(out.code, 1);
    let build = check(&report, "build for arm64");
    assert_eq!(build["ok"], false, "{build}");
    assert!(
        build["fix"]
            .as_str()
            .unwrap()
            .contains("rustup target add aarch64-unknown-linux-gnu"),
        "{build}"
    );
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lambdas")
        .is_dir());
}

/// doctor checks the endpoints the other commands really use: AWS_ENDPOINT_URL,
/// and a service's own AWS_ENDPOINT_URL_{SERVICE} over it.
#[tokio::test]
async fn doctor_checks_the_endpoints_the_environment_names() {
    let moto = Moto::shared();
    let mut cmd = wschat();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint);
    let (out, report) = doctor(cmd, &[]).await;
    assert_eq!(out.code, 0, "{report}");
    assert_eq!(check(&report, "DynamoDB endpoint")["detail"], moto.endpoint);

    // SSM elsewhere (a closed port): only SSM's line fails.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut cmd = wschat();
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ENDPOINT_URL_SSM", &closed);
    let (out, report) = doctor(cmd, &[]).await;
    assert_eq!(out.code, 1, "{report}");
    assert_eq!(check(&report, "SSM endpoint")["ok"], false, "{report}");
    assert!(check(&report, "SSM endpoint")["detail"]
        .as_str()
        .unwrap()
        .contains(&closed));
    assert_eq!(check(&report, "Lambda endpoint")["ok"], true, "{report}");
}
