//! How this machine builds the functions: a plain `cargo build`, or
//! `cargo zigbuild` with Lambda's glibc pinned, and what that needs installed.
//!
//! A plain build links against the host's glibc. provided.al2023 has 2.34, so
//! a binary built on a newer glibc may ask for symbols Lambda lacks; on macOS
//! or for the other architecture a plain build cannot make a Lambda binary at
//! all. zig links against any glibc version, so those cases go through it.

use super::elf::MAX_GLIBC;
use crate::error::{CliError, Result};
use crate::spec::Arch;
use std::fmt;
use std::path::Path;
use std::process::Command;

/// How the user asked for the functions to be built (`--builder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Builder {
    /// zigbuild when a plain build cannot make a binary Lambda runs.
    #[default]
    Auto,
    /// A plain `cargo build` for this machine; the glibc check still runs after it.
    Cargo,
    Zigbuild,
}

/// The machine wschat runs on, as far as building for Lambda goes.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    pub linux: bool,
    pub arch: Arch,
    /// `None` when it cannot be told (not Linux, or not glibc).
    pub glibc: Option<(u32, u32)>,
}

impl Host {
    pub fn detect() -> Host {
        let linux = cfg!(target_os = "linux");
        // By full path too: what the host is must not depend on the PATH.
        let getconf = || {
            ["getconf", "/usr/bin/getconf", "/bin/getconf"]
                .into_iter()
                .find_map(|getconf| tool_version(getconf, &["GNU_LIBC_VERSION"]))
        };
        Host {
            linux,
            arch: Arch::host(),
            glibc: if linux { getconf() } else { None }.and_then(|line| parse_glibc(&line)),
        }
    }
}

/// `glibc 2.36` (getconf's answer) → `(2, 36)`.
fn parse_glibc(line: &str) -> Option<(u32, u32)> {
    let version = line.strip_prefix("glibc ")?.trim();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Why a build goes through zigbuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Asked,
    NotLinux,
    NewerGlibc((u32, u32)),
    OtherArch(Arch),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Asked => write!(f, "asked for with --builder zigbuild"),
            Why::NotLinux => write!(f, "this machine is not Linux"),
            Why::NewerGlibc((major, minor)) => write!(
                f,
                "this machine's glibc {major}.{minor} is newer than Lambda's {}.{}",
                MAX_GLIBC.0, MAX_GLIBC.1
            ),
            Why::OtherArch(host) => write!(f, "this machine is {}", host.lambda_name()),
        }
    }
}

/// How the functions will be built for one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub arch: Arch,
    /// `Some` when the build goes through zigbuild, with the reason.
    pub zigbuild: Option<Why>,
}

impl Plan {
    /// Decides the build, or says why the asked-for builder cannot work here.
    pub fn choose(host: &Host, arch: Arch, builder: Builder) -> Result<Plan> {
        let needed = if !host.linux {
            Some(Why::NotLinux)
        } else if arch != host.arch {
            Some(Why::OtherArch(host.arch))
        } else {
            host.glibc.filter(|v| *v > MAX_GLIBC).map(Why::NewerGlibc)
        };
        let zigbuild = match (builder, needed) {
            (Builder::Zigbuild, needed) => Some(needed.unwrap_or(Why::Asked)),
            (Builder::Auto, needed) => needed,
            (Builder::Cargo, None | Some(Why::NewerGlibc(_))) => None,
            (Builder::Cargo, Some(why)) => {
                return Err(CliError::usage(format!(
                    "--builder cargo cannot build Linux {} functions: {why}",
                    arch.lambda_name()
                ))
                .with_hint(
                    "use --builder auto (the default), which builds through cargo zigbuild",
                ))
            }
        };
        Ok(Plan { arch, zigbuild })
    }

    /// The target cargo builds for: zigbuild's carries the glibc version to link against.
    fn target(&self) -> String {
        format!(
            "{}.{}.{}",
            self.arch.rust_target(),
            MAX_GLIBC.0,
            MAX_GLIBC.1
        )
    }

    /// cargo's subcommand and target arguments.
    pub fn cargo_args(&self) -> Vec<String> {
        match self.zigbuild {
            Some(_) => vec!["zigbuild".into(), "--target".into(), self.target()],
            None => vec!["build".into()],
        }
    }

    /// What is missing for this build, each with how to install it; empty when nothing is.
    fn missing(&self, lambdas_dir: &Path) -> Vec<Missing> {
        if self.zigbuild.is_none() {
            return vec![];
        }
        let mut missing = Vec::new();
        if tool_version("cargo", &["zigbuild", "--help"]).is_none() {
            missing.push(Missing {
                what: "cargo-zigbuild".into(),
                install: "pip install cargo-zigbuild (or cargo install --locked cargo-zigbuild)"
                    .into(),
            });
        }
        if zig_version().is_none() {
            missing.push(Missing {
                what: "zig".into(),
                install: "pip install ziglang (or a release from https://ziglang.org/download)"
                    .into(),
            });
        }
        let target = self.arch.rust_target();
        if !rust_target_installed(lambdas_dir, target) {
            missing.push(Missing {
                what: format!("the Rust target {target}"),
                install: format!("rustup target add {target}"),
            });
        }
        missing
    }

    /// Fails, naming every missing piece in one message, when the build cannot start.
    pub fn check_ready(&self, lambdas_dir: &Path) -> Result<()> {
        let missing = self.missing(lambdas_dir);
        if missing.is_empty() {
            return Ok(());
        }
        let what: Vec<&str> = missing.iter().map(|m| m.what.as_str()).collect();
        let steps: Vec<&str> = missing.iter().map(|m| m.install.as_str()).collect();
        let why = self.zigbuild.expect("missing pieces only for zigbuild");
        // Only a newer glibc leaves a plain build worth trying: the ELF check still guards it.
        let plain = match why {
            Why::NewerGlibc(_) => " Or try a plain build with --builder cargo.",
            _ => "",
        };
        Err(CliError::failed(format!(
            "building the functions for {} needs cargo zigbuild ({why}), and this machine lacks {}",
            self.arch.lambda_name(),
            what.join(", ")
        ))
        .with_hint(format!(
            "install them: {}; then run `wschat doctor`. Or build elsewhere with `wschat package` and deploy with --prebuilt DIR.{plain}",
            steps.join("; ")
        )))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zigbuild {
            Some(why) => write!(f, "cargo zigbuild --target {} ({why})", self.target()),
            None => write!(f, "cargo build"),
        }
    }
}

/// A piece a build needs and this machine lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Missing {
    what: String,
    install: String,
}

/// zig as cargo-zigbuild finds it: `CARGO_ZIGBUILD_ZIG_PATH`, `zig` on PATH,
/// then the `ziglang` Python package.
pub fn zig_version() -> Option<String> {
    if let Ok(path) = std::env::var("CARGO_ZIGBUILD_ZIG_PATH") {
        return tool_version(&path, &["version"]);
    }
    let python = std::env::var("CARGO_ZIGBUILD_PYTHON_PATH").unwrap_or_else(|_| "python3".into());
    tool_version("zig", &["version"])
        .or_else(|| tool_version(&python, &["-m", "ziglang", "version"]))
}

/// Whether the toolchain that builds `lambdas/` has the standard library for `target`.
fn rust_target_installed(lambdas_dir: &Path, target: &str) -> bool {
    // Asked of rustc in lambdas/, so a rust-toolchain file there picks the toolchain.
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(lambdas_dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| {
            let sysroot = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            Path::new(&sysroot)
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
        })
}

/// The first line a tool prints for `args`, if it runs and succeeds.
pub fn tool_version(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(arch: Arch, glibc: (u32, u32)) -> Host {
        Host {
            linux: true,
            arch,
            glibc: Some(glibc),
        }
    }

    #[test]
    fn auto_builds_plainly_only_where_the_binary_would_run_on_lambda() {
        let old = linux(Arch::X86_64, (2, 34));
        let plain = Plan::choose(&old, Arch::X86_64, Builder::Auto).unwrap();
        assert_eq!(plain.zigbuild, None);
        assert_eq!(plain.cargo_args(), ["build"]);

        let new = linux(Arch::X86_64, (2, 36));
        let pinned = Plan::choose(&new, Arch::X86_64, Builder::Auto).unwrap();
        assert_eq!(pinned.zigbuild, Some(Why::NewerGlibc((2, 36))));
        assert_eq!(
            pinned.cargo_args(),
            ["zigbuild", "--target", "x86_64-unknown-linux-gnu.2.34"]
        );
        assert_eq!(
            pinned.to_string(),
            "cargo zigbuild --target x86_64-unknown-linux-gnu.2.34 \
             (this machine's glibc 2.36 is newer than Lambda's 2.34)"
        );

        let cross = Plan::choose(&old, Arch::Arm64, Builder::Auto).unwrap();
        assert_eq!(cross.zigbuild, Some(Why::OtherArch(Arch::X86_64)));
        assert_eq!(cross.cargo_args()[2], "aarch64-unknown-linux-gnu.2.34");

        let mac = Host {
            linux: false,
            arch: Arch::Arm64,
            glibc: None,
        };
        let from_mac = Plan::choose(&mac, Arch::Arm64, Builder::Auto).unwrap();
        assert_eq!(from_mac.zigbuild, Some(Why::NotLinux));
    }

    #[test]
    fn an_asked_for_builder_wins_where_it_can_work() {
        let old = linux(Arch::X86_64, (2, 34));
        let asked = Plan::choose(&old, Arch::X86_64, Builder::Zigbuild).unwrap();
        assert_eq!(asked.zigbuild, Some(Why::Asked));
        // A plain build on a newer glibc may still be fine; the ELF check after it tells.
        let new = linux(Arch::X86_64, (2, 39));
        let plain = Plan::choose(&new, Arch::X86_64, Builder::Cargo).unwrap();
        assert_eq!(plain.zigbuild, None);
        let err = Plan::choose(&old, Arch::Arm64, Builder::Cargo).unwrap_err();
        assert!(err.to_string().contains("this machine is x86_64"), "{err}");
    }

    #[test]
    fn getconf_answers_are_read() {
        assert_eq!(parse_glibc("glibc 2.36"), Some((2, 36)));
        assert_eq!(parse_glibc("glibc 2.34\n"), Some((2, 34)));
        assert_eq!(parse_glibc("musl"), None);
    }
}
