//! Lambda packaging: build `lambdas/` for the Lambda target, check each ELF
//! runs on provided.al2023, and zip it deterministically so an unchanged build
//! has the same SHA-256 as the deployed function's `CodeSha256`.

use super::elf::verify_elf;
use super::toolchain::Plan;
use crate::error::{CliError, Result};
use crate::spec::{Arch, Function};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Package {
    pub zip: Vec<u8>,
    /// Base64 of the zip's SHA-256, as Lambda reports `CodeSha256`.
    pub sha256: String,
}

impl Package {
    pub fn from_zip(zip: Vec<u8>) -> Package {
        let sha256 = aws_smithy_types::base64::encode(Sha256::digest(&zip));
        Package { zip, sha256 }
    }
}

pub type Packages = HashMap<Function, Package>;

/// The binary every function runs, named as Lambda's custom runtimes want it.
const BINARY: &str = "bootstrap";

/// A zip with one entry, `bootstrap`, mode 0755, timestamp 1980-01-01: the same bytes in, the same zip out.
pub fn zip_bootstrap(binary: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o755);
    writer
        .start_file("bootstrap", options)
        .expect("in-memory zip");
    writer.write_all(binary).expect("in-memory zip");
    writer.finish().expect("in-memory zip").into_inner()
}

/// Builds the function's `bootstrap` with the `lambda` profile as `plan` says, and returns its path.
fn build(lambdas_manifest: &Path, plan: &Plan) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.args(plan.cargo_args());
    cmd.args([
        "--profile",
        "lambda",
        "--bins",
        "--message-format",
        "json-render-diagnostics",
        "--manifest-path",
    ])
    .arg(lambdas_manifest)
    .stderr(std::process::Stdio::inherit());
    let output = cmd.output().map_err(|e| {
        CliError::failed(format!("could not run cargo: {e}"))
            .with_hint("install Rust from https://rustup.rs")
    })?;
    if !output.status.success() {
        return Err(CliError::failed(
            "building the Lambda functions failed (cargo's errors are above)",
        ));
    }
    output
        .stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == BINARY)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| CliError::failed(format!("cargo built, but no {BINARY} came out")))
}

/// Finds `lambdas/Cargo.toml` in the current directory or above it.
pub fn find_lambdas(start: &Path) -> Result<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("lambdas/Cargo.toml"))
        .find(|p| p.exists())
        .ok_or_else(|| {
            CliError::failed("no lambdas/ crate here to build the functions from")
                .with_hint("run wschat from the wschat repository, or pass --prebuilt DIR with connect.zip, disconnect.zip and message.zip (from `wschat package`)")
        })
}

/// Builds, verifies and zips the function, one zip per function.
pub fn build_packages(lambdas_manifest: &Path, plan: &Plan) -> Result<Packages> {
    let arch = plan.arch;
    let path = build(lambdas_manifest, plan)?;
    let binary = std::fs::read(&path)
        .map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
    verify_elf(BINARY, &binary, arch)?;
    let zip = zip_bootstrap(&binary);
    Ok(Function::ALL
        .into_iter()
        .map(|f| (f, Package::from_zip(zip.clone())))
        .collect())
}

/// Loads `{dir}/{connect,disconnect,message,deliver}.zip`, checking each holds a runnable `bootstrap`.
pub fn load_prebuilt(dir: &Path, arch: Arch) -> Result<Packages> {
    let mut packages = Packages::new();
    for function in Function::ALL {
        let path = prebuilt_zip(dir, function).ok_or_else(|| {
            CliError::failed(format!(
                "no {}.zip (nor bootstrap.zip) in {}",
                function.name(),
                dir.display()
            ))
            .with_hint(PREBUILT_LAYOUTS)
        })?;
        let zip = std::fs::read(&path)
            .map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
        let mut archive = zip::ZipArchive::new(Cursor::new(&zip))
            .map_err(|e| CliError::failed(format!("{} is not a zip: {e}", path.display())))?;
        let mut entry = archive.by_name("bootstrap").map_err(|_| {
            CliError::failed(format!("{} has no `bootstrap` at its root", path.display()))
        })?;
        let mut binary = Vec::new();
        entry
            .read_to_end(&mut binary)
            .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
        if entry.unix_mode().is_some_and(|m| m & 0o111 == 0) {
            return Err(CliError::failed(format!(
                "{}: bootstrap is not executable (mode 0755 needed)",
                path.display()
            )));
        }
        verify_elf(&path.display().to_string(), &binary, arch)?;
        drop(entry);
        packages.insert(function, Package::from_zip(zip));
    }
    Ok(packages)
}

const PREBUILT_LAYOUTS: &str = "--prebuilt DIR takes connect.zip, disconnect.zip, message.zip and deliver.zip, as `wschat package --out DIR` writes them, \
or the one bootstrap.zip every function runs, as `cargo lambda build --release --output-format zip` writes it \
(pass --prebuilt target/lambda/bootstrap)";

/// A function's zip in `dir`: its own (`wschat package`), else the one
/// `bootstrap.zip` all of them run (cargo-lambda, for the crate's one
/// binary). `deliver` runs the message function's binary, so a directory
/// written before it existed serves it from `message.zip`.
fn prebuilt_zip(dir: &Path, function: Function) -> Option<PathBuf> {
    let own = dir.join(format!("{}.zip", function.name()));
    let message = (function == Function::Deliver).then(|| dir.join("message.zip"));
    [
        Some(own),
        message,
        Some(dir.join("bootstrap.zip")),
        Some(dir.join("bootstrap/bootstrap.zip")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
}

/// What `wschat package` wrote.
#[derive(serde::Serialize)]
pub struct PackageReport {
    arch: &'static str,
    /// The build command and why it was chosen.
    built_with: String,
    /// Path, size in bytes and `CodeSha256` of each zip.
    zips: Vec<(String, usize, String)>,
}

impl std::fmt::Display for PackageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "built for {} with {}:", self.arch, self.built_with)?;
        for (path, size, sha) in &self.zips {
            writeln!(f, "  {path}  {:.2} MB  sha256 {sha}", *size as f64 / 1e6)?;
        }
        write!(f, "deploy them with: wschat deploy --prebuilt DIR")
    }
}

/// Writes the zips for `--prebuilt` (or inspection).
pub fn write_packages(
    packages: &Packages,
    arch: Arch,
    built_with: String,
    dir: &Path,
) -> Result<PackageReport> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut zips = Vec::new();
    for function in Function::ALL {
        let path = dir.join(format!("{}.zip", function.name()));
        let package = &packages[&function];
        std::fs::write(&path, &package.zip)
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
        zips.push((
            path.display().to_string(),
            package.zip.len(),
            package.sha256.clone(),
        ));
    }
    Ok(PackageReport {
        arch: arch.lambda_name(),
        built_with,
        zips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_deterministic_and_executable() {
        let a = zip_bootstrap(b"binary");
        assert_eq!(a, zip_bootstrap(b"binary"));
        assert_eq!(
            Package::from_zip(a.clone()).sha256,
            Package::from_zip(zip_bootstrap(b"binary")).sha256
        );
        let mut archive = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        let entry = archive.by_name("bootstrap").unwrap();
        assert_eq!(entry.unix_mode().unwrap() & 0o777, 0o755);
    }
}
