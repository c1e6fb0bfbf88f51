//! The sandbox's own AWS-style credentials: made at start, written to a file
//! only the user can read, required (SigV4) on `@connections` and the
//! `@wschat` control endpoints. The `--local` commands find them by port.

use crate::error::{CliError, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The region the sandbox's examples sign for; any region's signature verifies.
pub const REGION: &str = "us-east-1";

fn random_text(len: usize, alphabet: &[u8]) -> Result<String> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| CliError::failed("the system's random number generator failed"))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

impl Credentials {
    pub fn generate() -> Result<Self> {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        Ok(Credentials {
            access_key_id: format!("ASBX{}", random_text(16, UPPER)?),
            secret_access_key: random_text(40, ANY)?,
        })
    }

    /// The file's text: environment assignments a shell can source.
    fn to_env_file(&self, url: &str) -> String {
        format!(
            "# wschat dev at {url}: credentials for its @connections API (SigV4, any region).\n\
             AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_REGION={REGION}\n",
            self.access_key_id, self.secret_access_key
        )
    }

    fn from_env_file(text: &str) -> Option<Self> {
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
        };
        Some(Credentials {
            access_key_id: value("AWS_ACCESS_KEY_ID")?,
            secret_access_key: value("AWS_SECRET_ACCESS_KEY")?,
        })
    }
}

/// `$WSCHAT_DEV_DIR`, else `$XDG_RUNTIME_DIR/wschat`, else `~/.wschat`.
fn directory() -> PathBuf {
    if let Some(dir) = std::env::var_os("WSCHAT_DEV_DIR") {
        return dir.into();
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("wschat");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".wschat")
}

/// Where the sandbox on `port` keeps its credentials.
pub fn path(port: u16) -> PathBuf {
    directory().join(format!("dev-{port}.env"))
}

/// Writes the file readable by its owner only (0600, in a 0700 directory).
pub fn write(credentials: &Credentials, port: u16, url: &str) -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let file = path(port);
    let failed = |e: std::io::Error| {
        CliError::failed(format!(
            "cannot write the sandbox's credentials to {}: {e}",
            file.display()
        ))
        .with_hint("set WSCHAT_DEV_DIR to a directory you can write")
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory())
        .map_err(failed)?;
    let _ = std::fs::remove_file(&file);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .map_err(failed)?;
    out.write_all(credentials.to_env_file(url).as_bytes())
        .map_err(failed)?;
    Ok(file)
}

/// The port a sandbox URL names (`http://127.0.0.1:8080` → 8080).
fn port_of(url: &str) -> Option<u16> {
    let authority = url.split("://").nth(1)?.split('/').next()?;
    match authority.rsplit_once(':') {
        Some((_, port)) if !port.ends_with(']') => port.parse().ok(),
        _ => Some(80),
    }
}

/// The credentials of the sandbox at `url`, for the `--local` commands.
pub fn load(url: &str) -> Result<Credentials> {
    let port = port_of(url).ok_or_else(|| {
        CliError::usage(format!("'{url}' is not a sandbox URL"))
            .with_hint("e.g. --local http://127.0.0.1:8080")
    })?;
    let file = path(port);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        CliError::failed(format!("no wschat dev credentials for port {port} ({}: {e})", file.display()))
            .with_hint("start the sandbox with `wschat dev` (it writes them there), or pass its URL to --local")
    })?;
    Credentials::from_env_file(&text).ok_or_else(|| {
        CliError::failed(format!(
            "{} does not hold sandbox credentials",
            file.display()
        ))
        .with_hint("restart `wschat dev`; it rewrites the file")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_urls_name_their_port() {
        let c = Credentials::generate().unwrap();
        let back = Credentials::from_env_file(&c.to_env_file("http://127.0.0.1:9")).unwrap();
        assert_eq!(back.access_key_id, c.access_key_id);
        assert_eq!(back.secret_access_key, c.secret_access_key);
        assert_eq!(port_of("http://127.0.0.1:8080"), Some(8080));
        assert_eq!(port_of("http://[::1]:9000/"), Some(9000));
        assert_eq!(port_of("http://localhost"), Some(80));
    }
}
