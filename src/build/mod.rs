//! The functions' build, apart from the stack it ships to: how this machine
//! builds `lambdas/` for Lambda ([`toolchain`]), the checks a binary passes
//! before it ships ([`elf`]), and the deterministic zips deploy uploads
//! ([`package`]). [`readiness`] is what `wschat doctor` reports of it.

pub mod elf;
pub mod package;
pub mod toolchain;

use crate::error::Result;
use crate::spec::Arch;
use std::path::Path;
use toolchain::{tool_version, Builder, Host, Plan};

/// One thing a build needs: what was found, or what is wrong and its fix.
pub struct Need {
    pub name: String,
    pub found: Result<String>,
}

/// cargo, the functions' source, and the build for `arch` as `builder` would
/// run it from `cwd`, each found or not.
pub fn readiness(cwd: &Path, arch: Arch, builder: Builder) -> Vec<Need> {
    let cargo = tool_version("cargo", &["--version"]).ok_or_else(|| {
        crate::error::CliError::failed("cargo is not on PATH")
            .with_hint("install Rust from https://rustup.rs, then open a new shell")
    });
    let manifest = package::find_lambdas(cwd).map_err(|_| {
        crate::error::CliError::failed(format!(
            "no lambdas/Cargo.toml in {} or above",
            cwd.display()
        ))
        .with_hint(
            "run wschat from its checkout, or deploy zips built elsewhere with --prebuilt DIR",
        )
    });
    let lambdas_dir = manifest
        .as_ref()
        .ok()
        .and_then(|m| m.parent())
        .unwrap_or(cwd)
        .to_owned();
    let plan = Plan::choose(&Host::detect(), arch, builder)
        .and_then(|plan| plan.check_ready(&lambdas_dir).map(|()| plan.to_string()));
    vec![
        Need {
            name: "cargo".to_owned(),
            found: cargo,
        },
        Need {
            name: "functions' source".to_owned(),
            found: manifest.map(|m| m.display().to_string()),
        },
        Need {
            name: format!("build for {}", arch.lambda_name()),
            found: plan,
        },
    ]
}
