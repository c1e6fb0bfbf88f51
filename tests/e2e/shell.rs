//! The shell's habits: completions, the man page, colour and progress on a
//! terminal (through `script`, which gives the command a real pty).

use crate::harness::{lambda_zips, run, wschat, wschat_aws, Run};
use crate::stackfile::project;
use std::process::Command;
use wschat_test_support::moto::{unique, Moto};

#[tokio::test]
async fn completions_load_in_bash_and_the_man_page_renders() {
    let script = run({
        let mut c = wschat();
        c.args(["completions", "bash"]);
        c
    })
    .await;
    assert_eq!(script.code, 0);
    let dir = project(&unique("completions"));
    let path = dir.join("wschat.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let loaded = run({
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(format!("source {}; complete -p wschat", path.display()));
        c
    })
    .await;
    assert_eq!(loaded.code, 0, "{}", loaded.stderr);
    assert!(
        loaded.stdout.contains("complete") && loaded.stdout.contains("wschat"),
        "{}",
        loaded.stdout
    );
    // Completing `wschat dep` offers deploy.
    let offered = run({
        let mut c = Command::new("bash");
        c.arg("-c").arg(format!(
            "source {}; COMP_WORDS=(wschat dep); COMP_CWORD=1; COMP_LINE='wschat dep'; COMP_POINT=10; _wschat wschat dep wschat; echo \"${{COMPREPLY[@]}}\"",
            path.display()
        ));
        c
    })
    .await;
    assert!(
        offered.stdout.contains("deploy"),
        "{}{}",
        offered.stdout,
        offered.stderr
    );
    for shell in ["zsh", "fish", "powershell"] {
        let out = run({
            let mut c = wschat();
            c.args(["completions", shell]);
            c
        })
        .await;
        assert!(out.code == 0 && out.stdout.contains("deploy"), "{shell}");
    }
    let man = run({
        let mut c = wschat();
        c.arg("man");
        c
    })
    .await;
    assert_eq!(man.code, 0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH wschat"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    // Every page the main one names is written.
    let pages = dir.join("man1");
    let out = run({
        let mut c = wschat();
        c.args(["man", "--out"]).arg(&pages);
        c
    })
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut named = 0;
    for reference in man.stdout.split("wschat\\-").skip(1) {
        let sub: String = reference
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        if reference[sub.len()..].starts_with("(1)") {
            named += 1;
            let page = pages.join(format!("wschat-{sub}.1"));
            assert!(
                page.exists(),
                "wschat.1 names wschat-{sub}(1): {}",
                page.display()
            );
        }
    }
    assert!(named >= 10, "wschat.1 names its subcommands' pages");
    assert!(pages.join("wschat.1").exists());
    assert!(pages.join("wschat-deploy.1").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `wschat deploy --dry-run` on a pseudo-terminal, as a person would see it.
async fn on_a_terminal(endpoint: &str, extra: &[&str], no_color: bool) -> Run {
    let mut inner = wschat_aws(endpoint, &unique("tty"));
    inner
        .args(["deploy", "--dry-run", "--prebuilt"])
        .arg(lambda_zips())
        .args(extra);
    let line: Vec<String> = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line.join(" "), "/dev/null"]);
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd.env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    run(cmd).await
}

const BOLD: &str = "\x1b[1m";
const REDRAW: &str = "\x1b[2K";

#[tokio::test(flavor = "multi_thread")]
async fn progress_follows_the_terminal_no_color_and_quiet() {
    let moto = Moto::shared();
    let live = on_a_terminal(&moto.endpoint, &[], false).await;
    assert_eq!(live.code, 0, "{}", live.stdout);
    assert!(
        live.stdout.contains(REDRAW) && live.stdout.contains(BOLD),
        "spinners, in colour"
    );
    let plain = on_a_terminal(&moto.endpoint, &[], true).await;
    assert!(plain.stdout.contains(REDRAW), "spinners still");
    assert!(!plain.stdout.contains(BOLD), "NO_COLOR: no colour");
    let quiet = on_a_terminal(&moto.endpoint, &["--quiet"], false).await;
    assert_eq!(quiet.code, 0);
    assert!(
        !quiet.stdout.contains(REDRAW) && !quiet.stdout.contains("package"),
        "--quiet: no progress"
    );
    assert!(
        quiet.stdout.contains("websocket api"),
        "the result still: {}",
        quiet.stdout
    );
    // Not a terminal (CI logs): one plain line per resource, no escapes.
    let mut piped = wschat_aws(&moto.endpoint, &unique("pipe"));
    piped
        .args(["deploy", "--dry-run", "--prebuilt"])
        .arg(lambda_zips());
    let piped = run(piped).await;
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(
        piped.stderr.contains("  package: 3 zips"),
        "{}",
        piped.stderr
    );
    assert!(!piped.stderr.contains('\x1b'), "{}", piped.stderr);
}

/// `wschat status | true`: the reader is gone before wschat writes. It ends
/// quietly, as Unix tools do, not with a panic.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_the_command_quietly() {
    let dev = crate::harness::Dev::start(&[]);
    let base = dev.base();
    for args in [
        vec!["status", "--local", &base],
        vec!["--output", "json", "status", "--local", &base],
        vec!["connections", "--local", &base],
        vec!["completions", "bash"],
        vec!["man"],
    ] {
        let mut cmd = wschat();
        cmd.args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().unwrap();
            drop(child.stdout.take());
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// `-vv` shows each AWS call, its status, attempts and duration; `RUST_LOG` filters them.
#[tokio::test(flavor = "multi_thread")]
async fn verbose_twice_shows_every_aws_call() {
    let proxy = wschat_test_support::proxy::Proxy::start(
        &wschat_test_support::moto::Moto::shared().endpoint,
    )
    .await;
    proxy.throttle_next(&["GetCallerIdentity"]);
    let name = unique("vv");
    let out = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.args(["-vv", "status"]);
        c
    })
    .await;
    assert!(
        out.stderr.contains("GetCallerIdentity: HTTP 200") && out.stderr.contains("2 attempt(s)"),
        "the throttled call and its retry: {}",
        out.stderr
    );
    assert!(out.stderr.contains("GetApis: HTTP 200"), "{}", out.stderr);
    let quiet = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.env("RUST_LOG", "off").args(["-vv", "status"]);
        c
    })
    .await;
    assert!(!quiet.stderr.contains("HTTP 200"), "{}", quiet.stderr);
}
