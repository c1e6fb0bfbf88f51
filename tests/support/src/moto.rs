//! A real moto server (PyPI `moto[server]`) on a free 127.0.0.1 port, one per
//! test binary. The harness installs moto into the project-local `.venv` when
//! it is missing, so `cargo test` needs nothing set up by hand.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    // Held so moto's stdin stays open; the wrapper shell kills moto when it closes (test exit).
    _guard: Child,
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("WSCHAT_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = crate::repo_root().join(".venv");
    let server = venv.join("bin/moto_server");
    if !server.exists() {
        install_moto(&venv);
    }
    server
}

/// Serialised with `flock` because several test binaries may start at once.
fn install_moto(venv: &Path) {
    let script = format!(
        "set -e; exec 9>'{lock}'; flock 9; \
         [ -x '{venv}/bin/moto_server' ] && exit 0; \
         python3 -m venv '{venv}'; '{venv}/bin/pip' install --quiet 'moto[server]>=5'",
        lock = venv.with_extension("lock").display(),
        venv = venv.display()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "could not install moto[server] into {}",
        venv.display()
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    fn start() -> Moto {
        let server = moto_server_path();
        let port = free_port();
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid",
                server.display()
            ))
            .stdin(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = guard.stdin.as_mut().map(|s| s.flush());
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _guard: guard,
        }
    }

    /// The moto server shared by every test of this binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    /// Fake credentials and a region: moto accepts any.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}
