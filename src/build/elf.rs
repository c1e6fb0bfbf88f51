//! The functions' binary checked before it ships: a 64-bit little-endian
//! ELF for the functions' architecture that provided.al2023's glibc can load.

use crate::error::{CliError, Result};
use crate::spec::Arch;

/// provided.al2023 ships glibc 2.34; a binary needing newer symbols fails at start.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

fn elf_machine(arch: Arch) -> object::elf::Machine {
    match arch {
        Arch::X86_64 => object::elf::EM_X86_64,
        Arch::Arm64 => object::elf::EM_AARCH64,
    }
}

/// `GLIBC_2.34` → `(2, 34)`; other version names → `None`.
fn glibc_version(name: &[u8]) -> Option<(u32, u32)> {
    let version = std::str::from_utf8(name.strip_prefix(b"GLIBC_")?).ok()?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// The newest `GLIBC_x.y` the binary's version needs (`.gnu.version_r`) ask for.
fn newest_glibc(binary: &[u8]) -> object::read::Result<Option<(u32, u32)>> {
    use object::read::elf::FileHeader;
    let header = object::elf::FileHeader64::<object::Endianness>::parse(binary)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, binary)?;
    let mut newest = None;
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, binary)? {
        let strings = sections.strings(endian, binary, link)?;
        while let Some((_, mut versions)) = needs.next()? {
            while let Some(version) = versions.next()? {
                newest = newest.max(glibc_version(version.name(endian, strings)?));
            }
        }
    }
    Ok(newest)
}

/// Checks a bootstrap is a 64-bit little-endian ELF for `arch` that provided.al2023's glibc can load.
pub fn verify_elf(name: &str, binary: &[u8], arch: Arch) -> Result<()> {
    use object::read::elf::FileHeader;
    let not_elf = || CliError::failed(format!("{name}: not a 64-bit little-endian ELF executable"));
    let header =
        object::elf::FileHeader64::<object::Endianness>::parse(binary).map_err(|_| not_elf())?;
    let endian = header.endian().map_err(|_| not_elf())?;
    if endian != object::Endianness::Little {
        return Err(not_elf());
    }
    let machine = header.e_machine(endian);
    if machine != elf_machine(arch) {
        return Err(CliError::failed(format!(
            "{name}: built for the wrong architecture (ELF machine {machine:#x})"
        ))
        .with_hint(format!(
            "deploy with --arch matching the build, or rebuild for {}",
            arch.rust_target()
        )));
    }
    let newest = newest_glibc(binary)
        .map_err(|e| CliError::failed(format!("{name}: unreadable ELF ({e})")))?;
    if let Some((major, minor)) = newest.filter(|v| *v > MAX_GLIBC) {
        return Err(CliError::failed(format!(
            "{name}: needs glibc {major}.{minor}, but provided.al2023 has {}.{}",
            MAX_GLIBC.0, MAX_GLIBC.1
        ))
        .with_hint("build with --builder auto (the default), which pins glibc 2.34 through cargo zigbuild, or build with `cargo lambda build --release --output-format zip` and pass --prebuilt target/lambda/bootstrap"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_checks_catch_wrong_arch_and_text() {
        // This test binary is an ELF for the machine it runs on.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let other = match Arch::host() {
            Arch::X86_64 => Arch::Arm64,
            Arch::Arm64 => Arch::X86_64,
        };
        let err = verify_elf("me", &me, other).unwrap_err();
        assert!(err.to_string().contains("wrong architecture"), "{err}");
        let err = verify_elf("text", b"#!/bin/sh\necho hi", Arch::X86_64).unwrap_err();
        assert!(err.to_string().contains("not a 64-bit"), "{err}");
        assert!(
            newest_glibc(&me).unwrap().is_some(),
            "a Rust binary for linux-gnu needs some glibc version"
        );
    }

    #[test]
    fn glibc_versions_are_read_from_version_names() {
        assert_eq!(glibc_version(b"GLIBC_2.34"), Some((2, 34)));
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version(b"GLIBC_2"), Some((2, 0)));
        assert_eq!(glibc_version(b"GCC_3.0"), None);
        assert_eq!(glibc_version(b"GLIBC_PRIVATE"), None);
        assert!(Some((2, 39)) > Some(MAX_GLIBC) && Some((2, 17)) < Some(MAX_GLIBC));
    }
}
