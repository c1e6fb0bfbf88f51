//! What the tests and the benchmarks share. Real parts only:
//!
//! - [`moto`]: a moto server (PyPI `moto[server]`) on a free 127.0.0.1 port,
//!   behind a [`front`] that checks every request against AWS's own model
//!   ([`models`], botocore's `service-2.json`) and refuses what AWS would;
//! - [`proxy`]: a recording proxy in front of it that sees what `wschat` sends,
//!   with [`realism`]: AWS's behaviours that moto lacks, and injected faults;
//! - [`runtime_api`]: Lambda's Runtime API, so a built `bootstrap` runs as Lambda runs it,
//!   and [`invoke`]: Lambda's Invoke of such a function, through the proxy;
//! - [`package_zips`]: the three function zips, built by the real `wschat package`;
//! - [`bench`](mod@bench): percentiles and result files for `cargo bench`.

pub mod bench;
pub mod campaign;
pub mod front;
pub mod idp;
pub mod invoke;
pub mod metrics;
pub mod models;
pub mod moto;
pub mod proxy;
pub mod realism;
pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root: the workspace this crate sits in.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where this test process's sandboxes keep their credentials (`WSCHAT_DEV_DIR`),
/// apart from the developer's own.
pub fn dev_dir() -> PathBuf {
    std::env::temp_dir().join(format!("wschat-tests-{}", std::process::id()))
}

/// The credentials a sandbox on `port` wrote at start: (access key id, secret).
pub fn dev_credentials(port: u16) -> (String, String) {
    let text = std::fs::read_to_string(dev_dir().join(format!("dev-{port}.env")))
        .expect("wschat dev wrote its credentials");
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .expect("both keys are in the file")
            .to_owned()
    };
    (value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY"))
}

/// The `wschat` binary at `bin`, with nothing of the developer's own AWS set-up.
pub fn wschat(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("WSCHAT_")) {
        cmd.env_remove(var);
    }
    // Away from any wschat.toml in the checkout: a test that wants one says so.
    let cwd = dev_dir().join("cwd");
    std::fs::create_dir_all(&cwd).expect("the tests' directory can be made");
    cmd.current_dir(cwd);
    cmd.env("WSCHAT_DEV_DIR", dev_dir())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `wschat` pointed at an AWS endpoint (moto, or the proxy in front of it) with throwaway credentials.
pub fn wschat_aws(bin: &Path, endpoint: &str, name: &str) -> Command {
    let mut cmd = wschat(bin);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args([
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--name",
            name,
        ]);
    cmd
}

/// `wschat package --out OUT`, run from the repository root as a developer would.
pub fn package_command(wschat: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(wschat);
    // Cargo's own variables for the test would make the nested cargo rebuild from scratch.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CARGO_") && k != "CARGO_HOME") {
        cmd.env_remove(key);
    }
    cmd.env_remove("LD_LIBRARY_PATH")
        .env_remove("CARGO")
        .current_dir(repo_root())
        .args(["package", "--out"])
        .arg(out);
    cmd
}

/// Builds the three zips into `out` with `wschat package`, through zigbuild
/// whatever this machine's glibc: the zips are then the kind Lambda runs, and
/// tests/run builds them the same way ahead of time.
pub fn package_zips(wschat: &Path, out: &Path) {
    let status = package_command(wschat, out)
        .args(["--builder", "zigbuild", "--quiet"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("wschat package runs");
    assert!(status.success(), "wschat package failed");
}

/// The `bootstrap` of a deployable zip, unpacked as Lambda unpacks it (mode 0755)
/// into a directory of its own.
pub fn unzip_bootstrap(zip: &Path) -> PathBuf {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let bytes = std::fs::read(zip).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut binary = Vec::new();
    archive
        .by_name("bootstrap")
        .unwrap()
        .read_to_end(&mut binary)
        .unwrap();
    let dir = std::env::temp_dir().join(crate::moto::unique("bootstrap"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(zip.file_stem().unwrap());
    std::fs::write(&path, binary).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `%3D` and friends decoded, as a path segment or a query value carries them.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form's value decoded: `+` is a space, then as [`percent_decode`].
pub fn form_decode(text: &str) -> String {
    percent_decode(&text.replace('+', " "))
}
