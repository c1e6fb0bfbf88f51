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
         python3 -m venv '{venv}'; '{venv}/bin/pip' install --quiet -r '{pins}'",
        lock = venv.with_extension("lock").display(),
        venv = venv.display(),
        pins = crate::repo_root().join("tests/requirements.txt").display()
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
        // moto issues a requested certificate at once: one requested beside
        // wschat stands for the user's own, already validated; what wschat
        // requests, the realism layer validates as ACM would.
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "MOTO_ACM_VALIDATION_WAIT=0 '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid",
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
        warm_up(port);
        Moto {
            // Every request is checked against AWS's model before moto sees it.
            endpoint: crate::front::start(port),
            _guard: guard,
        }
    }

    /// The moto server shared by every test of this binary.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    /// A second server for the fault tests: their campaigns keep one moto
    /// busy (it is one Python process), and the other tests' calls would
    /// queue behind them.
    pub fn for_faults() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    /// Fake credentials and a region: moto accepts any.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_at(&self.endpoint).await
    }
}

/// The tests' credentials and region, every call to `endpoint` (moto, or a proxy in front of it).
pub async fn sdk_config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// moto loads a service's backend on its first request, which can take
/// seconds: long enough to trip the short timeouts the fault tests set. One
/// cheap read per service wschat calls, before any test, pays that up front.
fn warm_up(port: u16) {
    const READS: [(&str, &str, &str, &str); 11] = [
        ("acm", "POST", "/", "CertificateManager.ListCertificates"),
        ("route53", "GET", "/2013-04-01/hostedzone", ""),
        ("dynamodb", "POST", "/", "DynamoDB_20120810.ListTables"),
        (
            "monitoring",
            "POST",
            "/",
            "GraniteServiceVersion20100801.ListDashboards",
        ),
        ("sns", "POST", "/?Action=ListTopics&Version=2010-03-31", ""),
        ("logs", "POST", "/", "Logs_20140328.DescribeLogGroups"),
        ("ssm", "POST", "/", "AmazonSSM.DescribeParameters"),
        ("lambda", "GET", "/2015-03-31/functions/", ""),
        ("apigateway", "GET", "/v2/apis", ""),
        ("iam", "POST", "/?Action=ListRoles&Version=2010-05-08", ""),
        (
            "sts",
            "POST",
            "/?Action=GetCallerIdentity&Version=2011-06-15",
            "",
        ),
    ];
    std::thread::scope(|scope| {
        for (service, method, path, target) in READS {
            scope.spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let target = match target {
                    "" => String::new(),
                    t => format!("X-Amz-Target: {t}\r\nContent-Type: application/x-amz-json-1.1\r\n"),
                };
                let body = if method == "POST" { "{}" } else { "" };
                let request = format!(
                    "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                     Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
                     {target}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).unwrap();
                let _ = std::io::Read::read_to_end(&mut stream, &mut Vec::new());
            });
        }
    });
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}
