//! Building the functions for Lambda from this machine: cargo zigbuild with
//! glibc 2.34 pinned, and a build that cannot start saying everything it lacks.

use crate::harness::{lambda_zips, path_with_only, run, unzip_bootstrap, wschat_aws, Run};
use std::path::{Path, PathBuf};
use wschat::build::elf::verify_elf;
use wschat::spec::Arch;
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::package_command;
use wschat_test_support::proxy::{writes, Proxy};

fn wschat_bin() -> &'static Path {
    env!("CARGO_BIN_EXE_wschat").as_ref()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn zigbuild_pins_glibc_and_builds_the_zips_the_runtime_api_test_runs() {
    // The zips every end-to-end test deploys and bootstrap.rs runs through the Runtime API.
    let tested = tokio::task::block_in_place(lambda_zips);
    let out = scratch("zigbuild");
    let mut cmd = package_command(wschat_bin(), &out);
    cmd.args(["--builder", "zigbuild", "--output", "json"]);
    let built = run(cmd).await;
    assert_eq!(built.code, 0, "{}", built.stderr);
    let report = built.json();
    let target = format!("{}.2.34", Arch::host().rust_target());
    assert!(
        report["built_with"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cargo zigbuild --target {target}")),
        "{report}"
    );
    for function in ["connect", "disconnect", "message"] {
        let zip = out.join(format!("{function}.zip"));
        let unzipped = unzip_bootstrap(&zip);
        // The same checks deploy makes: an ELF for this architecture needing glibc 2.34 at most.
        verify_elf(function, &std::fs::read(&unzipped).unwrap(), Arch::host()).unwrap();
        // And glibc read off the binary by binutils, apart from wschat's own reading.
        let elf = std::process::Command::new("objdump")
            .arg("-T")
            .arg(&unzipped)
            .output()
            .unwrap();
        let symbols = String::from_utf8_lossy(&elf.stdout);
        let newest = symbols
            .split_whitespace()
            .filter_map(|word| word.trim_matches(['(', ')']).strip_prefix("GLIBC_"))
            .filter_map(|v| {
                let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
                Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
            })
            .max()
            .expect("a linux-gnu binary names glibc versions");
        assert!(newest <= (2, 34), "{function} needs glibc {newest:?}");
        // Built twice, byte for byte the same: these are the zips the Runtime API test ran.
        let tested_zip = std::fs::read(tested.join(format!("{function}.zip"))).unwrap();
        assert!(
            std::fs::read(&zip).unwrap() == tested_zip,
            "{function}.zip differs between two builds"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

async fn package(extra: &[&str], path: Option<&Path>) -> (Run, PathBuf) {
    let out = scratch("package");
    let mut cmd = package_command(wschat_bin(), &out);
    cmd.args(extra);
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    (run(cmd).await, out)
}

fn error_lines(run: &Run) -> usize {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count()
}

#[tokio::test]
async fn a_build_that_cannot_start_names_every_missing_piece_before_building() {
    // No zig, no cargo-zigbuild, no python3.
    let bare = path_with_only(&["cargo", "rustc"]);
    let (missing, out) = package(&["--builder", "zigbuild"], Some(&bare)).await;
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert_eq!(error_lines(&missing), 1, "one message:\n{}", missing.stderr);
    for piece in [
        "lacks cargo-zigbuild, zig",
        "pip install cargo-zigbuild",
        "pip install ziglang",
    ] {
        assert!(
            missing.stderr.contains(piece),
            "{piece}:\n{}",
            missing.stderr
        );
    }
    assert!(
        !missing.stderr.contains("Compiling") && !out.join("connect.zip").exists(),
        "nothing built:\n{}",
        missing.stderr
    );

    // Deploy fails the same way, before it writes anything to AWS.
    let proxy = Proxy::start(&Moto::shared().endpoint).await;
    let mut deploy = wschat_aws(&proxy.endpoint, &unique("nozig"));
    deploy
        .current_dir(wschat_test_support::repo_root())
        .env("PATH", &bare)
        .args(["deploy", "--builder", "zigbuild"]);
    let deploy = run(deploy).await;
    assert_eq!(deploy.code, 1, "{}", deploy.stderr);
    assert!(
        deploy.stderr.contains("lacks cargo-zigbuild, zig"),
        "{}",
        deploy.stderr
    );
    assert_eq!(writes(&proxy.take()), Vec::<String>::new());

    // arm64 on this x86_64 machine: zig is here, the aarch64 standard library is not.
    let (cross, _) = package(&["--arch", "arm64", "--builder", "zigbuild"], None).await;
    assert_eq!(cross.code, 1, "{}", cross.stderr);
    assert!(
        cross
            .stderr
            .contains("lacks the Rust target aarch64-unknown-linux-gnu")
            && cross
                .stderr
                .contains("rustup target add aarch64-unknown-linux-gnu"),
        "{}",
        cross.stderr
    );
    assert!(!cross.stderr.contains("cargo-zigbuild"), "{}", cross.stderr);

    // A plain cargo build cannot cross to arm64: a usage error, not a failed build.
    let (plain, _) = package(&["--arch", "arm64", "--builder", "cargo"], None).await;
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(plain.stderr.contains("--builder auto"), "{}", plain.stderr);
    let _ = std::fs::remove_dir_all(&bare);
}
