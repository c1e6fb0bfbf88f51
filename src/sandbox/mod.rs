//! `wschat dev`: a local API Gateway for WebSockets running the Lambdas' own
//! handlers in process, the `@connections` API, and the web client.

mod control;
pub mod credentials;
mod delivery;
mod events;
mod guard;
mod hooks;
mod ids;
mod listener;
mod logbuffer;
mod management;
mod memory;
mod metrics;
mod registry;
mod sigv4;
mod socket;
mod store;

use crate::error::{CliError, Result};
use crate::spec::StackId;
use crate::stack::table::Table;
use axum::http::header;
use axum::middleware;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::Router;
use events::{Api, Origin};
use hooks::Hook;
use registry::Registry;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::SandboxStore;
use tokio::sync::watch;
use wschat_lambdas::auth::{token, Auth, AuthMode, AuthSettings, SecretSource};
use wschat_lambdas::delivery::DeliveryJob;
use wschat_lambdas::dynamo_history::DynamoHistory;
use wschat_lambdas::history::{HistoryStore, InMemoryHistory};
use wschat_lambdas::retry::poll_until;
use wschat_lambdas::store::EitherStore;
use wschat_lambdas::{Chat, ChatConfig, EventType, Gateway, InMemoryStore, WebSocketEvent};

/// How `wschat dev` runs.
pub struct Options {
    /// The stack it stands in for: the stage is the URL path; name and stage
    /// name the table with `--dynamodb-endpoint`.
    pub id: StackId,
    pub region: Option<String>,
    pub host: std::net::IpAddr,
    pub port: u16,
    pub dynamodb_endpoint: Option<String>,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// API Gateway's integration timeout: how long a handler may run.
    pub integration_timeout: Duration,
    /// Handle one connection's frames one after another (debugging), not concurrently as AWS does.
    pub serial_frames: bool,
    /// Bytes queued for a client that is not reading before it is disconnected.
    pub outbound_limit: usize,
    /// Bytes queued for every client together; past it the largest queues are cut.
    pub outbound_total: usize,
    /// Connections held at once, whatever the open-file limit allows.
    pub max_connections: Option<usize>,
    pub auth: AuthSettings,
    pub limits: ChatLimits,
    pub verbose: bool,
}

/// What one client and one message may cost, as deploy gives the functions.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatLimits {
    pub connections_rate: u32,
    pub max_message_rate: f64,
    pub max_room_size: u32,
    pub history_ttl_s: u32,
    pub history_on_join: u32,
}

impl ChatLimits {
    /// The tuning `WSCHAT_*` variables give, under these limits.
    fn config(&self) -> ChatConfig {
        ChatConfig {
            connections_rate: self.connections_rate,
            message_rate: wschat_lambdas::rate::Rate::per_second(self.max_message_rate),
            max_room_size: self.max_room_size as usize,
            history_ttl_seconds: i64::from(self.history_ttl_s),
            history_on_join: self.history_on_join as usize,
            ..ChatConfig::from_env()
        }
    }
}

pub struct Limits {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

pub struct Sandbox {
    chat: Chat<SandboxStore, Registry>,
    stage: String,
    domain_name: String,
    limits: Limits,
    shutdown: watch::Receiver<bool>,
    integration_timeout: Duration,
    serial_frames: bool,
    outbound_limit: usize,
    hooks: hooks::Hooks,
    /// Sockets whose `$disconnect` has not finished yet.
    open_sockets: AtomicUsize,
    /// Message invocations running at once, across every connection.
    invocations: Arc<tokio::sync::Semaphore>,
    page: String,
    logs: logbuffer::LogBuffer,
    metrics: Arc<metrics::MetricLog>,
    port: u16,
    credentials: credentials::Credentials,
    /// Token mode's secret and audience, for minting (`wschat token --local`).
    tokens: Option<TokenSigner>,
}

/// Token mode's secret and the audience its tokens carry.
type TokenSigner = (Vec<u8>, String);

impl Sandbox {
    fn api(&self) -> Api<'_> {
        Api {
            domain_name: &self.domain_name,
            stage: &self.stage,
            api_id: "local",
        }
    }

    /// Runs the handler the way its Lambda function would: in its own task,
    /// so a panic is a failed invocation, and cut off at the integration
    /// timeout. Its logs are attributed to that function. Returns the outcome
    /// and the event's request id.
    async fn invoke(self: &Arc<Self>, event: WebSocketEvent) -> (Invocation, String) {
        use tracing::Instrument;
        self.hooks.record(&event);
        let request_id = event.request_context.request_id.clone();
        let event_type = event.request_context.event_type;
        let function = match event_type {
            EventType::Connect => "connect",
            EventType::Disconnect => "disconnect",
            EventType::Message => "message",
        };
        let sandbox = self.clone();
        let task = tokio::spawn(
            async move {
                let hook = sandbox.hooks.of(&event);
                match hook {
                    Some(Hook::Panic) => panic!("test hook: the {function} handler panics"),
                    Some(Hook::Sleep(pause)) if event_type == EventType::Message => {
                        tokio::time::sleep(pause).await
                    }
                    _ => {}
                }
                let answer = sandbox.chat.handle(&event).await;
                if let Some(Hook::Sleep(pause)) = hook {
                    if event_type == EventType::Connect {
                        tokio::time::sleep(pause).await;
                    }
                }
                answer
            }
            .instrument(tracing::info_span!("invoke", function)),
        );
        let abort = task.abort_handle();
        let outcome = match tokio::time::timeout(self.integration_timeout, task).await {
            Ok(Ok(answer)) => Invocation::Answered(answer),
            Ok(Err(_)) => {
                tracing::error!(function, request_id, "the handler failed (panicked)");
                Invocation::Failed
            }
            Err(_) => {
                abort.abort();
                tracing::error!(function, request_id, timeout = ?self.integration_timeout, "the handler timed out");
                Invocation::TimedOut
            }
        };
        (outcome, request_id)
    }

    /// A message's invocation; a failed one sends the client API Gateway's error frame.
    async fn invoke_for_client(self: &Arc<Self>, event: WebSocketEvent) {
        let connection_id = event.request_context.connection_id.clone();
        let (outcome, request_id) = self.invoke(event).await;
        if let Some(frame) = outcome.gateway_error(&connection_id, &request_id) {
            let _ = self.chat.gateway.post(&connection_id, frame.into()).await;
        }
    }

    /// Ends a connection: it can no longer be posted to, then `$disconnect` runs.
    async fn close(self: &Arc<Self>, origin: &Origin, code: u16, reason: &str) {
        self.chat.gateway.remove(&origin.connection_id);
        self.invoke(self.api().disconnect(origin, code, reason))
            .await;
        self.open_sockets.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How an invocation ended, as API Gateway sees it.
pub enum Invocation {
    Answered(wschat_lambdas::Response),
    /// The handler panicked: Lambda reports a function error.
    Failed,
    TimedOut,
}

/// The headers that sign a request to a sandbox with its credentials.
pub fn sign_request(
    credentials: &credentials::Credentials,
    method: &str,
    url: &str,
    body: &[u8],
) -> std::result::Result<Vec<(String, String)>, String> {
    sigv4::signature_headers(credentials, method, url, body)
}

/// The web client with the WebSocket URL, the stage and the stack's auth mode
/// filled in. An empty URL makes the page connect back to the host it was
/// loaded from (`wschat dev`, reached by any of the machine's addresses).
pub fn render_page(websocket_url: &str, stage: &str, auth: AuthMode) -> String {
    include_str!("../../templates/index.html")
        .replace("{{WEBSOCKET_URL}}", websocket_url)
        .replace("{{STAGE}}", stage)
        .replace("{{AUTH_MODE}}", auth.as_str())
}

/// Chat text is rendered as text, and the policy forbids inline script from anywhere else.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
    connect-src ws: wss:; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn router(sandbox: Arc<Sandbox>) -> Router {
    // API Gateway's management API and the control endpoints: SigV4 with the sandbox's credentials.
    let signed = Router::new()
        .route("/{stage}/@wschat/connections", get(control::list))
        .route(
            "/{stage}/@wschat/connections/{id}",
            get(control::get).delete(control::delete),
        )
        .route("/{stage}/@wschat/logs", get(control::logs))
        .route("/{stage}/@wschat/health", get(control::health))
        .route("/{stage}/@wschat/token", post(control::token))
        .route("/{stage}/@wschat/moderation", post(control::moderate))
        .route(
            "/{stage}/@connections/{id}",
            get(management::get)
                .post(management::post)
                .delete(management::delete),
        )
        .route_layer(middleware::from_fn_with_state(
            sandbox.clone(),
            guard::signed,
        ));
    Router::new()
        .route(
            "/",
            get(
                |axum::extract::State(s): axum::extract::State<Arc<Sandbox>>| async move {
                    (
                        [(header::CONTENT_SECURITY_POLICY, PAGE_CSP)],
                        Html(s.page.clone()),
                    )
                        .into_response()
                },
            ),
        )
        .route("/{stage}", get(socket::upgrade))
        .merge(signed)
        .layer(middleware::from_fn_with_state(sandbox.clone(), guard::host))
        .with_state(sandbox)
}

/// The connections and the history: in memory, or in the stack's two
/// tables at `--dynamodb-endpoint` (made there, as deploy makes them, when missing).
async fn open_store(options: &Options) -> Result<(SandboxStore, Arc<dyn HistoryStore>)> {
    let Some(endpoint) = &options.dynamodb_endpoint else {
        return Ok((
            EitherStore::Left(InMemoryStore::new()),
            Arc::new(InMemoryHistory::new()),
        ));
    };
    let region = options
        .region
        .clone()
        .unwrap_or_else(|| "us-east-1".to_owned());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    for which in Table::ALL {
        let table = which.name(&options.id);
        let described = client.describe_table().table_name(&table).send();
        if described.await.is_err() {
            let created = async {
                crate::stack::table::create(&client, which, &table, Default::default()).await?;
                crate::stack::table::enable_ttl(&client, which, &table).await
            };
            created.await.map_err(|e| {
                CliError::failed(format!("could not create table {table} at {endpoint}: {e}"))
                    .with_hint("check that the endpoint is a DynamoDB (or moto) server and that credentials are set (any value works for moto)")
            })?;
        }
    }
    let history = DynamoHistory::new(client.clone(), options.id.messages_table());
    Ok((
        EitherStore::Right(wschat_lambdas::dynamo::DynamoStore::new(
            client,
            options.id.table(),
        )),
        Arc::new(history),
    ))
}

fn banner(
    addr: SocketAddr,
    stage: &str,
    store: &str,
    auth: AuthMode,
    credentials_file: &std::path::Path,
) -> String {
    let base = format!("http://{addr}");
    let ws = format!("ws://{addr}/{stage}");
    let local = if addr.port() == 8080 && addr.ip().is_loopback() {
        "--local".to_owned()
    } else {
        format!("--local {base}")
    };
    let stage_flag = if stage == "dev" {
        String::new()
    } else {
        format!(" --stage {stage}")
    };
    let credentials = credentials_file.display();
    let try_it = match auth {
        AuthMode::Open => format!("npx wscat -c '{ws}?username=ada'   (auth: open; names are unverified display names)"),
        AuthMode::Token => format!("npx wscat -c \"{ws}?token=$(wschat token {local}{stage_flag} --user ada)\"   (auth: token)"),
        AuthMode::Jwt => format!("npx wscat -c '{ws}?token=<a JWT from your identity provider>'   (auth: jwt)"),
    };
    format!(
        "wschat dev: the chat runs on this machine (stage '{stage}', connections {store}); no AWS account involved.\n\
         \n  Web client    {base}/\
         \n  WebSocket     {ws}\
         \n  @connections  {base}/{stage}/@connections   (SigV4: the credentials in {credentials})\
         \n\
         \n  Try it        {try_it}\
         \n                then send {{\"action\":\"sendMessage\",\"message\":\"hello\"}}\
         \n  Operate it    wschat status {local}{stage_flag}\
         \n                wschat connections {local}{stage_flag}\
         \n                wschat broadcast {local}{stage_flag} \"maintenance in 5 minutes\"\
         \n  SDK / CLI     set -a; . {credentials}; set +a   then e.g.\
         \n                aws apigatewaymanagementapi get-connection --endpoint-url {base}/{stage} --connection-id ID\
         \n\
         \nCtrl-C stops the sandbox; every connection is closed and gets its $disconnect.\n"
    )
}

/// The `$connect` gate: the flags' settings, with the sandbox's own page
/// allowed as an origin from any address it was loaded from (a browser tab
/// on any other site is refused), and in token mode a secret made for this run.
fn sandbox_auth(options: &Options, addr: SocketAddr) -> Result<(Auth, Option<TokenSigner>)> {
    let audience = token::audience(&options.id.prefix());
    let (secret, tokens) = match options.auth.mode {
        AuthMode::Token => {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret)
                .map_err(|_| CliError::failed("the system's random number generator failed"))?;
            (
                Some(SecretSource::Fixed(secret.to_vec())),
                Some((secret.to_vec(), audience.clone())),
            )
        }
        _ => (None, None),
    };
    let auth = Auth::new(&options.auth, audience, secret)
        .map_err(CliError::usage)?
        .serving_its_own_page(addr.port());
    Ok((auth, tokens))
}

/// Ctrl-C, or SIGTERM from a supervisor or CI.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Each WebSocket is a file descriptor; the usual soft limit (1024) would cap the
/// sandbox far below what API Gateway holds, so raise it to the hard limit.
/// Returns how many sockets may be open at once: the limit, less a reserve
/// for the store's connections, logs and the like, so that near the limit a
/// newcomer is refused (503) rather than the users already connected starved.
fn connection_ceiling(max_connections: Option<usize>) -> usize {
    // Best effort: at worst the sandbox holds fewer connections.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| {
        usize::try_from(soft).unwrap_or(usize::MAX)
    });
    let by_files = files.saturating_sub(64 + files / 32).max(1);
    max_connections.map_or(by_files, |cap| cap.min(by_files))
}

/// Message invocations at once across every connection, as an account's
/// default Lambda concurrency (1,000); past it, frames wait to be read. Each
/// holds a frame and its event, so this bounds their memory too.
const MAX_INVOCATIONS: usize = 1_000;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Sockets that may wait for their request head at once; beyond it the oldest is dropped.
const MAX_PENDING: usize = 256;

pub async fn run(options: Options) -> Result<ExitCode> {
    // A handler's panic is a failed invocation, logged where its function's
    // logs go (`wschat logs --local`), as Lambda logs a crash to CloudWatch.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("wschat dev: {info}");
        tracing::error!(panic = %info, "panicked");
    }));
    let limits = listener::Limits {
        head_timeout: HEAD_TIMEOUT,
        max_pending: MAX_PENDING,
        max_open: connection_ceiling(options.max_connections),
    };
    let logs = logbuffer::LogBuffer::new(options.verbose);
    logbuffer::install(&logs);
    let (store, history) = open_store(&options).await?;
    let listener = tokio::net::TcpListener::bind((options.host, options.port))
        .await
        .map_err(|e| {
            CliError::failed(format!(
                "cannot listen on {}:{}: {e}",
                options.host, options.port
            ))
            .with_hint("pick another port with --port, or --port 0 for any free one")
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::failed(e.to_string()))?;
    let store_name = store::describe(&store);
    let credentials = credentials::Credentials::generate()?;
    let credentials_file =
        credentials::write(&credentials, addr.port(), &format!("http://{addr}"))?;
    let (stop, shutdown) = watch::channel(false);
    let sandbox = Sandbox::new(
        &options,
        addr,
        (store, history),
        logs,
        credentials,
        shutdown,
    )?;
    crate::output::line(&banner(
        addr,
        &options.id.stage,
        store_name,
        options.auth.mode,
        &credentials_file,
    ));
    if !addr.ip().is_loopback() {
        warn_beyond_loopback(addr, options.auth.mode, &credentials_file);
    }
    tokio::spawn(memory::give_back_every(memory::TRIM_PERIOD));
    let gauges = Arc::new(listener::Gauges::default());
    let app = router(sandbox.clone());
    listener::serve(listener, app, limits, gauges, interrupted()).await;
    let open = sandbox.close_all(&stop).await;
    let _ = std::fs::remove_file(&credentials_file);
    crate::output::line(&format!(
        "wschat dev: stopped; closed {open} connection(s)."
    ));
    Ok(ExitCode::SUCCESS)
}

impl Sandbox {
    fn new(
        options: &Options,
        addr: SocketAddr,
        (store, history): (SandboxStore, Arc<dyn HistoryStore>),
        logs: logbuffer::LogBuffer,
        credentials: credentials::Credentials,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Sandbox>> {
        let (auth, tokens) = sandbox_auth(options, addr)?;
        let registry = Registry::new(options.outbound_total);
        let stage = &options.id.stage;
        let endpoint = format!("http://{addr}/{stage}");
        let metrics = Arc::new(metrics::MetricLog::default());
        let telemetry = Arc::new(metrics::SandboxTelemetry {
            stack: options.id.prefix(),
            logs: logs.clone(),
            metrics: metrics.clone(),
        });
        Ok(Arc::new_cyclic(|me| Sandbox {
            // A large room's shards go to in-process invocations of `deliver`,
            // as the message function hands them to the delivery function.
            chat: Chat::new(store, registry, options.limits.config())
                .with_history(history)
                .with_auth(auth)
                .with_telemetry(telemetry)
                .with_dispatch(Arc::new(delivery::InProcess(me.clone())), endpoint),
            stage: stage.clone(),
            domain_name: addr.to_string(),
            limits: Limits {
                idle_timeout: options.idle_timeout,
                max_lifetime: options.max_lifetime,
            },
            shutdown,
            integration_timeout: options.integration_timeout,
            serial_frames: options.serial_frames,
            outbound_limit: options.outbound_limit,
            hooks: hooks::Hooks::from_env(),
            open_sockets: AtomicUsize::new(0),
            invocations: Arc::new(tokio::sync::Semaphore::new(MAX_INVOCATIONS)),
            logs,
            metrics,
            page: render_page("", stage, options.auth.mode),
            port: addr.port(),
            credentials,
            tokens,
        }))
    }

    /// One invocation of the delivery function: its own task, its logs
    /// attributed to `deliver`, and Lambda's timeout for it.
    fn invoke_delivery(self: &Arc<Self>, job: DeliveryJob) {
        use tracing::Instrument;
        let sandbox = self.clone();
        let run = async move {
            let done = tokio::time::timeout(delivery::TIMEOUT, sandbox.chat.run_job(&job));
            match done.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the delivery failed"),
                Err(_) => tracing::error!(timeout = ?delivery::TIMEOUT, "the delivery timed out"),
            }
        };
        tokio::spawn(run.instrument(tracing::info_span!("invoke", function = "deliver")));
    }

    /// Upgraded sockets outlive the HTTP server: closes each and lets its
    /// `$disconnect` run (best effort: what has not closed in 5 s goes with
    /// the process). Returns how many were open.
    async fn close_all(&self, stop: &watch::Sender<bool>) -> usize {
        let open = self.open_sockets.load(Ordering::SeqCst);
        let _ = stop.send(true);
        let all_closed = || async {
            let open = self.open_sockets.load(Ordering::SeqCst);
            Ok::<_, ()>((open == 0).then_some(()))
        };
        let every = Duration::from_millis(20);
        let _ = poll_until(every, Duration::from_secs(5), all_closed).await;
        open
    }
}

fn warn_beyond_loopback(addr: SocketAddr, auth: AuthMode, credentials_file: &std::path::Path) {
    eprintln!(
        "warning: listening on {addr}, not on loopback: anyone who can reach this machine can open chat connections{}. \
         @connections and the control endpoints still need the credentials in {}.",
        match auth {
            AuthMode::Open => " under any name (auth: open)",
            _ => "",
        },
        credentials_file.display()
    );
}
