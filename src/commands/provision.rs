//! deploy, status, teardown and package: the stack on AWS.

use super::exit_code;
use super::settings::Resolved;
use crate::build::package;
use crate::build::toolchain::{Builder, Host, Plan};
use crate::cli::{DeployArgs, DoctorArgs, PackageArgs, StatusArgs, TeardownArgs};
use crate::error::{CliError, Result};
use crate::layers::Partial;
use crate::ops::{self, Place};
use crate::output::print;
use crate::progress::Progress;
use crate::spec::{Arch, Settings};
use crate::stack::{self, deploy, status, teardown, Ctx};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Where the three zips come from: a directory of prebuilt ones, or a build of `lambdas/`.
#[derive(Clone, Copy)]
enum Source<'a> {
    Prebuilt(&'a Path),
    Build(Builder),
}

/// The four zips, loaded or built, and how they were made. A build that cannot
/// start (a missing tool, target or zig) fails here, naming every missing piece,
/// before compiling anything.
fn packages(
    source: Source<'_>,
    arch: Arch,
    progress: &Progress,
) -> Result<(package::Packages, String)> {
    let task = progress.task("package");
    let (packages, how) = match source {
        Source::Prebuilt(dir) => {
            task.set(format!("checking {}", dir.display()));
            let how = format!("prebuilt in {}", dir.display());
            (package::load_prebuilt(dir, arch)?, how)
        }
        Source::Build(builder) => {
            let plan = Plan::choose(&Host::detect(), arch, builder)?;
            let cwd = std::env::current_dir().map_err(|e| CliError::failed(e.to_string()))?;
            let manifest = package::find_lambdas(&cwd)?;
            plan.check_ready(manifest.parent().unwrap_or(&cwd))?;
            task.set(format!(
                "building lambdas/ for {}: {plan}",
                arch.lambda_name()
            ));
            // cargo writes to the terminal too: keep the spinners out of its way.
            let packages = progress.suspend(|| package::build_packages(&manifest, &plan))?;
            (packages, plan.to_string())
        }
    };
    let total: usize = packages.values().map(|p| p.zip.len()).sum();
    task.finish(format!(
        "3 zips, {:.1} MB in all: {how}",
        total as f64 / 1e6
    ));
    Ok((packages, how))
}

/// With `-v`: each setting and where it came from.
fn explain(run: &Resolved, layered: &Partial) {
    if run.verbose == 0 || run.quiet {
        return;
    }
    eprintln!(
        "settings (from a flag, a WSCHAT_* variable, {}, or the default):",
        run.stack_file
            .as_ref()
            .map_or("no wschat.toml".to_owned(), |p| p.display().to_string())
    );
    for line in layered.provenance() {
        eprintln!("  {line}");
    }
}

pub async fn deploy(run: &Resolved, args: DeployArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let layered = run.layered(&args.settings);
    let settings = layered.settings()?;
    let id = run.stack_id()?;
    explain(run, &layered);
    let stack = stack::open(&id, &run.aws, settings.clone()).await?;
    let spec = &stack.spec;
    let progress = run.progress();
    let source = match &args.prebuilt {
        Some(dir) => Source::Prebuilt(dir),
        None => Source::Build(args.builder.into()),
    };
    // A plan needs no build: away from lambdas/, a dry run compares everything but the code.
    let cwd = std::env::current_dir().map_err(|e| CliError::failed(e.to_string()))?;
    let plan_without_code =
        args.dry_run && args.prebuilt.is_none() && package::find_lambdas(&cwd).is_err();
    let packages = if plan_without_code {
        None
    } else {
        Some(packages(source, settings.arch, &progress)?.0)
    };
    let ctx = Ctx {
        stack: &stack,
        progress: &progress,
        dry_run: args.dry_run,
        no_wait: args.no_wait,
    };
    // What would refuse the deploy, checked before any of the stack's writes;
    // then an account setting, checked (or set, when told).
    stack::domain::preflight(&ctx).await?;
    let account = stack::account::ensure(&ctx, args.set_account_logging_role).await?;
    let mut reconciled = deploy::reconcile(&ctx, packages.as_ref(), args.rotate_secret).await?;
    reconciled.resources.extend(account);
    let endpoints = stack::Endpoints::of(
        spec,
        reconciled.api_id.as_deref(),
        reconciled.domain.as_ref(),
    );
    let web_client = match (&endpoints.websocket_url, args.dry_run || args.no_web_client) {
        (Some(url), false) => {
            let path = args
                .web_client
                .clone()
                .unwrap_or_else(|| format!("wschat-{}.html", spec.prefix()).into());
            std::fs::write(
                &path,
                crate::sandbox::render_page(url, &spec.id.stage, settings.auth.mode),
            )
            .map_err(|e| {
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
        at: stack::Located::of(spec),
        dry_run: args.dry_run,
        resources: reconciled.resources,
        endpoints,
        domain: reconciled.domain,
        web_client,
        auth: stack::AuthSummary::of(&spec.settings.auth),
        code_compared: !plan_without_code,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    print(run.output, &report);
    Ok(ExitCode::SUCCESS)
}

pub async fn status(run: &Resolved, args: StatusArgs) -> Result<ExitCode> {
    let id = run.stack_id()?;
    if let Some(url) = &args.target.local {
        let target = ops::resolve(&id, Place::Local(url, run.aws.timeout)).await?;
        print(
            run.output,
            &ops::local::status(&target, url, &id.stage, args.since).await?,
        );
        return Ok(ExitCode::SUCCESS);
    }
    let layered = run.layered(&args.settings);
    // Checked before any AWS call: the settings may be complete without the record.
    layered.settings()?;
    let mut stack = stack::open(&id, &run.aws, Settings::default()).await?;
    // What the last deploy applied fills what neither flags nor file say, so a
    // plain `status` with no file checks the stack against its last deploy.
    let (api_id, recorded) = stack::api::applied_tags(&stack).await?;
    let recorded = recorded.map(|tags| Partial::from_applied_tags(&tags));
    let layered = layered.or(recorded.clone().unwrap_or_default());
    explain(run, &layered);
    stack.spec.settings = layered.settings()?;
    let recorded = recorded.map(|r| r.settings()).transpose()?;
    let wanted = status::Wanted {
        source: run.settings_source(),
        recorded: recorded.as_ref(),
        api_id,
        since: args.since,
    };
    let report = status::status(&stack, wanted).await?;
    print(run.output, &report);
    Ok(if !report.complete {
        ExitCode::from(super::EXIT_DRIFT)
    } else if report.health.alarming() {
        ExitCode::from(super::EXIT_ALARM)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn doctor(run: &Resolved, args: DoctorArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().map_err(|e| CliError::failed(e.to_string()))?;
    let arch = run.arch(args.arch);
    let domain = run.domain(args.domain);
    let report =
        crate::doctor::doctor(&cwd, arch, args.builder.into(), &run.aws, domain.as_deref()).await;
    print(run.output, &report);
    Ok(exit_code(report.ready))
}

pub async fn teardown(run: &Resolved, args: TeardownArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let stack = stack::open(&run.stack_id()?, &run.aws, Settings::default()).await?;
    // What the queue holds goes with it: said before anything is deleted.
    let dead_letters = stack::queue::find(&stack).await?.map_or(0, |q| q.depth());
    if !args.dry_run {
        super::prompt::confirm_teardown(&stack.spec, args.yes, dead_letters)?;
    }
    let progress = run.progress();
    let ctx = Ctx {
        stack: &stack,
        progress: &progress,
        dry_run: args.dry_run,
        no_wait: true,
    };
    let resources = teardown::teardown(&ctx).await?;
    let leftovers = if args.dry_run {
        vec![]
    } else {
        teardown::leftovers(&stack)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    // Best effort: a teardown does not fail for want of apigateway:GET on the account.
    let account_logging_role = stack::account::logging_role(&stack)
        .await
        .ok()
        .flatten()
        .filter(|role| *role == stack.spec.account_logging_role_arn());
    let report = teardown::TeardownReport {
        at: stack::Located::of(&stack.spec),
        dry_run: args.dry_run,
        resources,
        dead_letters,
        leftovers,
        account_logging_role,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    };
    print(run.output, &report);
    Ok(exit_code(report.clean()))
}

pub async fn package(run: &Resolved, args: PackageArgs) -> Result<ExitCode> {
    let arch = run.arch(args.arch);
    let source = Source::Build(args.builder.into());
    let (packages, how) = packages(source, arch, &run.progress())?;
    let report = package::write_packages(&packages, arch, how, &args.out)?;
    print(run.output, &report);
    Ok(ExitCode::SUCCESS)
}
