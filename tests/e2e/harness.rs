//! Runs the real `wschat` binary and talks to it with real WebSocket clients.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// The `wschat` under test, with nothing of the developer's own AWS set-up.
pub fn wschat() -> Command {
    wschat_test_support::wschat(env!("CARGO_BIN_EXE_wschat").as_ref())
}

/// A directory to use as PATH holding only `tools` (linked from the real PATH).
pub fn path_with_only(tools: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(wschat_test_support::moto::unique("path"));
    std::fs::create_dir_all(&dir).unwrap();
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let at = String::from_utf8(found.stdout).unwrap();
        assert!(!at.trim().is_empty(), "{tool} is not on PATH");
        std::os::unix::fs::symlink(at.trim(), dir.join(tool)).unwrap();
    }
    dir
}

/// Probes until `probe` answers `Some` (every 50 ms, and at once the first
/// time); after `within`, fails the test naming `what` did not happen. Every
/// wait for something to happen goes through here: no test sleeps to sync.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One raw HTTP/1.1 exchange with `ip:port`: the status and the whole answer.
pub fn raw_http(ip: &str, port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((ip, port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A 410 GoneException, as API Gateway answers for a closed or unknown id.
pub fn is_gone<T, E>(
    answer: Result<
        T,
        aws_sdk_apigatewaymanagement::error::SdkError<
            E,
            aws_sdk_apigatewaymanagement::config::http::HttpResponse,
        >,
    >,
) -> bool
where
    E: aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata,
{
    use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
    answer.is_err_and(|e| {
        e.raw_response().is_some_and(|r| r.status().as_u16() == 410)
            && e.code() == Some("GoneException")
    })
}

/// The real SDK client, with the credentials the sandbox wrote for its owner.
pub async fn management_client(dev: &Dev) -> aws_sdk_apigatewaymanagement::Client {
    let (key, secret) = wschat_test_support::dev_credentials(dev.port);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-3"))
        .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .load()
        .await;
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(format!("{}/{}", dev.base(), dev.stage))
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `wschat dev` process; interrupted (Ctrl-C) when dropped.
pub struct Dev {
    pub port: u16,
    pub stage: String,
    child: Child,
    pub output: mpsc::Receiver<String>,
}

impl Dev {
    pub fn start(extra: &[&str]) -> Dev {
        Self::start_with(extra, |_| {})
    }

    /// A sandbox whose handlers can be made to panic or run late (see src/sandbox/hooks.rs).
    pub fn hooked(extra: &[&str]) -> Dev {
        Self::start_with(extra, |cmd| {
            cmd.env("WSCHAT_DEV_TEST_HOOKS", "1");
        })
    }

    /// On a port of the caller's choosing.
    pub fn start_at(port: u16, extra: &[&str]) -> Dev {
        Self::start_on(port, extra, |_| {})
    }

    pub fn start_with(extra: &[&str], configure: impl FnOnce(&mut Command)) -> Dev {
        Self::start_on(free_port(), extra, configure)
    }

    fn start_on(port: u16, extra: &[&str], configure: impl FnOnce(&mut Command)) -> Dev {
        let stage = extra
            .windows(2)
            .find(|w| w[0] == "--stage")
            .map_or("dev", |w| w[1])
            .to_owned();
        let mut cmd = wschat();
        cmd.args(["dev", "--port", &port.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        configure(&mut cmd);
        let mut child = cmd.spawn().expect("wschat dev starts");
        let (tx, output) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let dev = Dev {
            port,
            stage,
            child,
            output,
        };
        dev.wait_for_line("WebSocket", Duration::from_secs(30));
        dev
    }

    pub fn wait_for_line(&self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!("wschat dev printed no line with '{needle}' within {within:?}"),
            }
        }
    }

    /// One joined client per query string, joined one after another.
    pub async fn join_all<const N: usize>(&self, queries: [&str; N]) -> [Client; N] {
        let mut clients = Vec::with_capacity(N);
        for query in queries {
            clients.push(Client::join(&self.ws_url(query)).await);
        }
        clients
            .try_into()
            .unwrap_or_else(|_| unreachable!("one client per query"))
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("ws://127.0.0.1:{}/{}{query}", self.port, self.stage)
    }

    /// A `--local` command against this sandbox (JSON output).
    pub async fn local(&self, args: &[&str]) -> Run {
        let mut cmd = wschat();
        cmd.args(["--output", "json", "--stage", &self.stage])
            .args(args)
            .args(["--local", &self.base()]);
        run(cmd).await
    }

    /// A `--local` command against this sandbox, its JSON result.
    pub async fn local_json(&self, args: &[&str]) -> Value {
        let out = self.local(args).await;
        assert!(out.code <= 1, "{args:?}: {}{}", out.stdout, out.stderr);
        out.json()
    }

    /// The connection id of `username`'s row, as an operator finds it.
    pub async fn connection_id(&self, username: &str) -> Option<String> {
        let listing = self.local_json(&["connections"]).await;
        listing["connections"]
            .as_array()?
            .iter()
            .find(|r| r["username"] == username)
            .and_then(|r| r["connection_id"].as_str().map(str::to_owned))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The descriptors the sandbox holds open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// SIGKILL: the process dies without running any `$disconnect`, as a crashed host would.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for a clean exit.
    pub async fn interrupt(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let child = &mut self.child;
        eventually(
            Duration::from_secs(10),
            "wschat dev's exit after Ctrl-C",
            async || child.try_wait().unwrap(),
        )
        .await
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Client {
    pub socket: Socket,
}

#[derive(Debug, PartialEq)]
pub enum Closed {
    Frame(u16, String),
    NoFrame,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client { socket }
    }

    /// Connects and waits until the server has registered us: a `who` round
    /// trip whose answer lists at least this connection.
    pub async fn join(url: &str) -> Client {
        let mut client = Client::connect(url).await;
        client.send_text(r#"{"action":"who"}"#).await;
        let presence = client.next_of_type("presence").await;
        let users = presence["data"]["users"].as_array();
        assert!(
            users.is_some_and(|u| !u.is_empty()),
            "the room we joined lists us: {presence}"
        );
        client
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next frame from the server as JSON, or `None` if nothing came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"))
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    /// Skips frames of other types (join/leave notices) until one of `kind` arrives.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// The next frame that is not a join, leave or presence notice.
    pub async fn next_skipping_notices(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if !["join", "leave", "presence"].contains(&frame["type"].as_str().unwrap_or_default())
            {
                return frame;
            }
        }
    }

    /// A barrier: sends `who` and returns every frame that arrived before its
    /// answer. Deliveries to a connection are queued in order, so everything
    /// posted to it before the answer has arrived. Frames are concurrent
    /// invocations, as on AWS, so it says nothing of frames this connection
    /// sent earlier: wait for their effect (the sender's echo) first.
    pub async fn sync(&mut self) -> Vec<Value> {
        self.send_text(r#"{"action":"who"}"#).await;
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == "presence" {
                return before;
            }
            before.push(frame);
        }
    }

    /// Asserts that no chat message reached this connection up to a barrier
    /// (see [`Client::sync`]); call it once the sender has seen its echo.
    pub async fn expect_no_message(&mut self) {
        for frame in self.sync().await {
            assert_ne!(frame["type"], "message", "unexpected message {frame}");
        }
    }

    /// Reads until the server closes the connection.
    pub async fn closed(&mut self, within: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("the server closed in time")
            {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Closed::Frame(u16::from(frame.code), frame.reason.to_string())
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Closed::NoFrame,
                Some(Ok(_)) => continue,
            }
        }
    }
}

/// `wschat` pointed at an AWS endpoint (moto, or the proxy in front of it) with throwaway credentials.
pub fn wschat_aws(endpoint: &str, name: &str) -> Command {
    wschat_test_support::wschat_aws(env!("CARGO_BIN_EXE_wschat").as_ref(), endpoint, name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

/// Runs a command off the async runtime's threads and captures everything.
pub async fn run(mut cmd: Command) -> Run {
    let out = tokio::task::spawn_blocking(move || {
        cmd.stdin(Stdio::null()).output().expect("wschat runs")
    })
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The three function zips, built once per test run with `wschat package`.
pub fn lambda_zips() -> &'static std::path::Path {
    static ZIPS: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    ZIPS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-lambda-zips");
        wschat_test_support::package_zips(env!("CARGO_BIN_EXE_wschat").as_ref(), &dir);
        dir
    })
}

pub use wschat_test_support::unzip_bootstrap;

/// A function's `bootstrap` running as one Lambda environment: polling
/// `api`, calling AWS at `endpoint`, with the stack's table. Killed when dropped.
pub struct Environment(Child);

impl Environment {
    pub fn start(
        binary: &std::path::Path,
        api: &wschat_test_support::runtime_api::RuntimeApi,
        function: &str,
        endpoint: &str,
        table: &str,
        env: &[(&str, &str)],
    ) -> Environment {
        Environment::spawn(binary, api, function, endpoint, table, env, Stdio::null())
    }

    /// As [`start`](Environment::start), with each line the function writes
    /// to stdout (what Lambda sends to its log group) on the channel.
    pub fn logged(
        binary: &std::path::Path,
        api: &wschat_test_support::runtime_api::RuntimeApi,
        function: &str,
        endpoint: &str,
        table: &str,
        env: &[(&str, &str)],
    ) -> (Environment, std::sync::mpsc::Receiver<String>) {
        let mut env =
            Environment::spawn(binary, api, function, endpoint, table, env, Stdio::piped());
        let stdout = env.0.stdout.take().expect("piped");
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        (env, received)
    }

    fn spawn(
        binary: &std::path::Path,
        api: &wschat_test_support::runtime_api::RuntimeApi,
        function: &str,
        endpoint: &str,
        table: &str,
        env: &[(&str, &str)],
        stdout: Stdio,
    ) -> Environment {
        let mut command = Command::new(binary);
        command
            .envs(api.lambda_env(function))
            .envs(env.iter().copied())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("TABLE_NAME", table)
            .stdout(stdout)
            .stderr(Stdio::null());
        // A binary just unzipped is busy while another thread's fork still
        // holds its write descriptor (until that child execs): try again.
        let mut attempts = 0;
        loop {
            match command.spawn() {
                Ok(child) => return Environment(child),
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("bootstrap starts: {e}"),
            }
        }
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A connections table in moto, made as deploy makes it, and the chat's store over it.
pub async fn connections_table(table: &str) -> wschat_lambdas::dynamo::DynamoStore {
    let sdk = wschat_test_support::moto::Moto::shared().sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let connections = wschat::stack::table::Table::Connections;
    wschat::stack::table::create(&client, connections, table, Default::default())
        .await
        .unwrap();
    wschat::stack::table::enable_ttl(&client, connections, table)
        .await
        .unwrap();
    wschat_lambdas::dynamo::DynamoStore::new(client, table)
}

/// Who said what in a chat message frame: `(username, message)`.
pub fn said(frame: &Value) -> (&str, &str) {
    let field = |name: &str| frame["data"][name].as_str().unwrap_or_default();
    (field("username"), field("message"))
}

/// Moves every row of `room` in a moto table `by_ms` into the past, as if
/// those connections had opened that much earlier.
pub async fn age_rows(table: &str, room: &str, by_ms: i64) {
    use wschat_lambdas::store::{list_all, ConnectionStore, Filter};
    let sdk = wschat_test_support::moto::Moto::shared().sdk_config().await;
    let store =
        wschat_lambdas::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    for mut row in list_all(&store, &Filter::Room(room.to_owned()))
        .await
        .unwrap()
    {
        row.connected_at -= by_ms;
        store.put(&row).await.unwrap();
    }
}
