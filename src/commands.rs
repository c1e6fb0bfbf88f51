//! The AWS-side commands: connect, derive the spec, run, print, choose the exit code.

use crate::cli::{
    BroadcastArgs, ConnectionsAction, ConnectionsArgs, DeployArgs, FunctionArg, Global, LogsArgs,
    PackageArgs, StatusArgs, TeardownArgs,
};
use crate::error::{CliError, Result};
use crate::ops;
use crate::output::print;
use crate::progress::Progress;
use crate::spec::{self, Settings, StackSpec};
use crate::stack::{self, deploy, package, status, teardown, Ctx};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

fn progress(global: &Global) -> Progress {
    Progress::new(global.quiet, global.verbose > 0)
}

fn packages(
    prebuilt: Option<&std::path::Path>,
    arch: spec::Arch,
    progress: &Progress,
) -> Result<package::Packages> {
    let task = progress.task("package");
    let packages = match prebuilt {
        Some(dir) => {
            task.set(format!("checking {}", dir.display()));
            package::load_prebuilt(dir, arch)?
        }
        None => {
            task.set(format!("building lambdas/ for {}", arch.lambda_name()));
            let cwd = std::env::current_dir().map_err(|e| CliError::failed(e.to_string()))?;
            package::build_packages(&package::find_lambdas(&cwd)?, arch)?
        }
    };
    let total: usize = packages.values().map(|p| p.zip.len()).sum();
    task.finish(format!("3 zips, {:.1} MB in all", total as f64 / 1e6));
    Ok(packages)
}

pub async fn deploy(global: &Global, args: DeployArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let settings = args.settings.settings();
    let (clients, spec) = stack::open(global, settings.clone()).await?;
    let progress = progress(global);
    let packages = packages(args.prebuilt.as_deref(), settings.arch, &progress)?;
    let ctx = Ctx {
        clients: &clients,
        spec: &spec,
        progress: &progress,
        dry_run: args.dry_run,
    };
    let reconciled = deploy::reconcile(&ctx, Some(&packages)).await?;
    let api_id = reconciled.api_id.as_deref();
    let websocket_url = api_id.map(|id| spec.websocket_url(id));
    let web_client = match (&websocket_url, args.dry_run) {
        (Some(url), false) => {
            let path = args
                .web_client
                .clone()
                .unwrap_or_else(|| format!("wschat-{}.html", spec.prefix()).into());
            std::fs::write(&path, crate::sandbox::render_page(url)).map_err(|e| {
                CliError::failed(format!(
                    "deployed, but could not write the web client to {}: {e}",
                    path.display()
                ))
            })?;
            Some(path.display().to_string())
        }
        _ => None,
    };
    let report = deploy::DeployReport {
        stack: spec.prefix(),
        region: spec.region.clone(),
        dry_run: args.dry_run,
        resources: reconciled.resources,
        connections_url: api_id.map(|id| spec.connections_url(id)),
        websocket_url,
        web_client,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    print(global.output, &report);
    Ok(ExitCode::SUCCESS)
}

pub async fn status(global: &Global, args: StatusArgs) -> Result<ExitCode> {
    if let Some(url) = &args.target.local {
        return local_status(global, url).await;
    }
    let (clients, spec) = stack::open(global, args.settings.settings()).await?;
    let progress = Progress::new(true, false);
    let ctx = Ctx {
        clients: &clients,
        spec: &spec,
        progress: &progress,
        dry_run: true,
    };
    let report = status::status(&ctx).await?;
    print(global.output, &report);
    Ok(if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// On a terminal, the operator types the stack's name; elsewhere `--yes` is required.
fn confirm(spec: &StackSpec, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!(
            "teardown deletes every resource of {} and needs confirmation",
            spec.prefix()
        ))
        .with_hint("pass --yes to confirm when not on a terminal (e.g. in CI)"));
    }
    eprint!(
        "This deletes the stack {} in {} (account {}): its API, functions, logs, role and table.\nType {} to confirm: ",
        spec.prefix(),
        spec.region,
        spec.account,
        spec.prefix()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::failed(e.to_string()))?;
    if answer.trim() == spec.prefix() {
        Ok(())
    } else {
        Err(CliError::failed("not confirmed; nothing was deleted"))
    }
}

pub async fn teardown(global: &Global, args: TeardownArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (clients, spec) = stack::open(global, Settings::default()).await?;
    if !args.dry_run {
        confirm(&spec, args.yes)?;
    }
    let progress = progress(global);
    let ctx = Ctx {
        clients: &clients,
        spec: &spec,
        progress: &progress,
        dry_run: args.dry_run,
    };
    let resources = teardown::teardown(&ctx).await?;
    let leftovers = if args.dry_run {
        vec![]
    } else {
        teardown::leftovers(&ctx).await?
    };
    let report = teardown::TeardownReport {
        stack: spec.prefix(),
        region: spec.region.clone(),
        dry_run: args.dry_run,
        resources,
        leftovers,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    print(global.output, &report);
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(serde::Serialize)]
struct PackageReport {
    arch: &'static str,
    zips: Vec<(String, usize, String)>,
}

impl std::fmt::Display for PackageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "built for {}:", self.arch)?;
        for (path, size, sha) in &self.zips {
            writeln!(f, "  {path}  {:.2} MB  sha256 {sha}", *size as f64 / 1e6)?;
        }
        write!(f, "deploy them with: wschat deploy --prebuilt DIR")
    }
}

pub async fn package(global: &Global, args: PackageArgs) -> Result<ExitCode> {
    let arch = args.arch.unwrap_or_else(spec::Arch::host);
    let packages = packages(None, arch, &progress(global))?;
    let paths = package::write_packages(&packages, &args.out)?;
    let zips = paths
        .into_iter()
        .zip(spec::Function::ALL)
        .map(|(path, f)| {
            (
                path.display().to_string(),
                packages[&f].zip.len(),
                packages[&f].sha256.clone(),
            )
        })
        .collect();
    print(
        global.output,
        &PackageReport {
            arch: arch.lambda_name(),
            zips,
        },
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct LocalStatus {
    target: String,
    websocket_url: String,
    connections_url: String,
    web_client: String,
    connections: usize,
}

impl std::fmt::Display for LocalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: running", self.target)?;
        writeln!(f, "  WebSocket     {}", self.websocket_url)?;
        writeln!(f, "  @connections  {}", self.connections_url)?;
        writeln!(f, "  web client    {}", self.web_client)?;
        write!(f, "  connections   {} stored", self.connections)
    }
}

async fn local_status(global: &Global, url: &str) -> Result<ExitCode> {
    let target = ops::resolve(global, Some(url)).await?;
    let rows = wschat_lambdas::store::list_all(&target.store, &wschat_lambdas::store::Filter::All)
        .await
        .map_err(ops::store_error)?;
    let base = url.trim_end_matches('/');
    let report = LocalStatus {
        target: target.label,
        websocket_url: format!("{}/{}", base.replacen("http", "ws", 1), global.stage),
        connections_url: format!("{base}/{}/@connections", global.stage),
        web_client: format!("{base}/"),
        connections: rows.len(),
    };
    print(global.output, &report);
    Ok(ExitCode::SUCCESS)
}

pub async fn connections(global: &Global, args: ConnectionsArgs) -> Result<ExitCode> {
    if let Some(ConnectionsAction::Kick { id, target }) = &args.action {
        let local = target.local.as_deref().or(args.target.local.as_deref());
        let target = ops::resolve(global, local).await?;
        print(global.output, &ops::connections::kick(&target, id).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let target = ops::resolve(global, args.target.local.as_deref()).await?;
    let options = ops::connections::ListOptions {
        room: args.room,
        count_only: args.count,
        check: args.check,
        prune: args.prune,
    };
    print(
        global.output,
        &ops::connections::list(&target, options).await?,
    );
    Ok(ExitCode::SUCCESS)
}

fn message_text(args: &BroadcastArgs) -> Result<String> {
    let read_error = |what: &str, e: std::io::Error| {
        CliError::usage(format!("cannot read the message from {what}: {e}"))
    };
    match (&args.file, args.text.as_deref()) {
        (Some(path), _) => {
            std::fs::read_to_string(path).map_err(|e| read_error(&path.display().to_string(), e))
        }
        (None, Some("-")) => {
            std::io::read_to_string(std::io::stdin()).map_err(|e| read_error("stdin", e))
        }
        (None, Some(text)) => Ok(text.to_owned()),
        (None, None) => {
            Err(CliError::usage("no message")
                .with_hint("pass the text, --file PATH, or - for stdin"))
        }
    }
}

pub async fn broadcast(global: &Global, args: BroadcastArgs) -> Result<ExitCode> {
    use ops::broadcast::{Audience, BroadcastOptions};
    let text = message_text(&args)?;
    let audience = match (&args.room, &args.to) {
        (Some(room), _) => Audience::Room(room.clone()),
        (None, Some(to)) => Audience::One(to.clone()),
        (None, None) => Audience::Everyone,
    };
    let options = BroadcastOptions {
        text,
        audience,
        from: args.from.clone(),
        concurrency: args.concurrency as usize,
        rate: args.rate,
        dry_run: args.dry_run,
    };
    // Checked before looking anything up: an empty or oversized message never needs the stack.
    ops::broadcast::frame(&options)?;
    let target = ops::resolve(global, args.target.local.as_deref()).await?;
    let report = ops::broadcast::broadcast(&target, options, &progress(global)).await?;
    print(global.output, &report);
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn logs(global: &Global, args: LogsArgs) -> Result<ExitCode> {
    use ops::logs::{poll, Cursor, LogsOptions, LogsReport};
    let target = ops::resolve(global, args.target.local.as_deref()).await?;
    let functions = match args.function {
        None => spec::Function::ALL.to_vec(),
        Some(FunctionArg::Connect) => vec![spec::Function::Connect],
        Some(FunctionArg::Disconnect) => vec![spec::Function::Disconnect],
        Some(FunctionArg::Message) => vec![spec::Function::Message],
    };
    let options = LogsOptions {
        functions,
        since: args.since,
        filter: args.filter,
    };
    let mut cursor = Cursor::new(args.since);
    let events = poll(&target, &options, &mut cursor).await?;
    if !args.follow {
        print(global.output, &LogsReport { events });
        return Ok(ExitCode::SUCCESS);
    }
    let mut batch = events;
    loop {
        for event in &batch {
            match global.output {
                crate::output::Format::Text => println!("{event}"),
                crate::output::Format::Json => println!(
                    "{}",
                    serde_json::to_string(event).expect("events serialize")
                ),
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
        batch = poll(&target, &options, &mut cursor).await?;
    }
}
