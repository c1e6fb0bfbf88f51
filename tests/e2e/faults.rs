//! A bad network between wschat and AWS: replies lost after the request was
//! applied, endpoints that never answer, two deploys of one stack at once.

use crate::harness::{lambda_zips, run, wschat, wschat_aws, Client, Dev, Run};
use serde_json::Value;
use std::time::{Duration, Instant};
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::Proxy;
use wschat_test_support::realism::Faults;

async fn apis_named(name: &str) -> usize {
    let sdk = Moto::for_faults().sdk_config().await;
    let apis = aws_sdk_apigatewayv2::Client::new(&sdk)
        .get_apis()
        .send()
        .await
        .unwrap();
    let prefix = format!("{name}-dev");
    apis.items()
        .iter()
        .filter(|a| a.name.as_deref() == Some(prefix.as_str()))
        .count()
}

/// The integrations and routes of the stack's one API.
async fn routing_of(name: &str) -> (usize, usize) {
    let sdk = Moto::for_faults().sdk_config().await;
    let apigw = aws_sdk_apigatewayv2::Client::new(&sdk);
    let prefix = format!("{name}-dev");
    let apis = apigw.get_apis().send().await.unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name.as_deref() == Some(prefix.as_str()))
        .and_then(|a| a.api_id.clone())
        .expect("the stack's API");
    let integrations = apigw.get_integrations().api_id(&api).send().await.unwrap();
    let routes = apigw.get_routes().api_id(&api).send().await.unwrap();
    (integrations.items().len(), routes.items().len())
}

fn command(endpoint: &str, name: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = wschat_aws(endpoint, name);
    cmd.args(args);
    cmd
}

fn deploy_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["deploy", "--prebuilt"].map(String::from).to_vec();
    args.push(lambda_zips().display().to_string());
    args.extend([
        "--web-client".to_owned(),
        std::env::temp_dir()
            .join(unique("page"))
            .display()
            .to_string(),
    ]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

async fn wschat_run(endpoint: &str, name: &str, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(command(endpoint, name, &args)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_reply_on_every_kind_of_create_converges_in_one_run() {
    let moto = Moto::for_faults();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("lost");
    let creates = [
        "CreateTable",
        "CreateLogGroup",
        "CreateRole",
        "PutParameter",
        "POST /2015-03-31/functions",
        // Twice in a row: the first function's create (the role's probe, which
        // the others wait for) needs a third attempt.
        "POST /2015-03-31/functions",
        "POST /v2/apis",
    ];
    proxy.lose_replies(&creates);
    let out = wschat_run(
        &proxy.endpoint,
        &name,
        &deploy_args(&["--auth", "token", "--request-timeout", "6s"]),
    )
    .await;
    assert_eq!(
        out.code, 0,
        "one run converges:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(
        proxy.replies_left_to_lose(),
        Vec::<String>::new(),
        "every create lost a reply"
    );
    assert_eq!(
        apis_named(&name).await,
        1,
        "CreateApi's lost reply left one API"
    );

    let status = wschat_run(
        &proxy.endpoint,
        &name,
        &["status".into(), "--auth".into(), "token".into()],
    )
    .await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let down = wschat_run(&proxy.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_deploys_of_one_stack_at_once_leave_one_stack() {
    let moto = Moto::for_faults();
    let name = unique("twice");
    let args = deploy_args(&[]);
    let (a, b) = tokio::join!(
        wschat_run(&moto.endpoint, &name, &args),
        wschat_run(&moto.endpoint, &name, &args)
    );
    for out in [&a, &b] {
        assert_eq!(
            out.code, 0,
            "both jobs succeed:\n{}\n{}",
            out.stdout, out.stderr
        );
    }
    assert_eq!(apis_named(&name).await, 1, "no duplicate API is left");
    assert_eq!(
        routing_of(&name).await,
        (3, 8),
        "one integration per function, one route per key"
    );
    let url = |out: &Run| {
        out.stdout
            .lines()
            .find(|l| l.contains("wss://"))
            .map(str::to_owned)
    };
    assert_eq!(url(&a), url(&b), "both print the same URL");
    let status = wschat_run(&moto.endpoint, &name, &["status".into()]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let down = wschat_run(&moto.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
}

/// Three deploys of one stack at once end with a working stack and say so.
/// And the race's worst case, made to happen: while one deploy writes its
/// permissions, another removes its API under the survivor rule (here the
/// test plays the other deploy). The first converges on the survivor before
/// it reports success, and the stack works.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_whose_api_another_deploy_removed_converges_on_the_survivor() {
    let moto = Moto::for_faults();
    let name = unique("lost");
    let args = deploy_args(&[]);
    let (a, b, c) = tokio::join!(
        wschat_run(&moto.endpoint, &name, &args),
        wschat_run(&moto.endpoint, &name, &args),
        wschat_run(&moto.endpoint, &name, &args)
    );
    for out in [&a, &b, &c] {
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(apis_named(&name).await, 1, "no duplicate API is left");
    let status = wschat_run(&moto.endpoint, &name, &["status".into()]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let down = wschat_run(&moto.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);

    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("lost");
    let mut paused = proxy.pause_at(&format!(
        "POST /2015-03-31/functions/{name}-dev-connect/policy"
    ));
    let deploy = tokio::spawn({
        let (endpoint, name, args) = (proxy.endpoint.clone(), name.clone(), args.clone());
        async move { wschat_run(&endpoint, &name, &args).await }
    });
    (&mut paused.arrived).await.unwrap();
    let sdk = moto.sdk_config().await;
    let apigw = aws_sdk_apigatewayv2::Client::new(&sdk);
    let prefix = format!("{name}-dev");
    let ours = apigw
        .get_apis()
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .find(|a| a.name.as_deref() == Some(prefix.as_str()))
        .and_then(|a| a.api_id.clone())
        .expect("the deploy made its API");
    let survivor = apigw
        .create_api()
        .name(&prefix)
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .tags("wschat:stack", &name)
        .tags("wschat:stage", "dev")
        .send()
        .await
        .unwrap()
        .api_id
        .unwrap();
    apigw.delete_api().api_id(&ours).send().await.unwrap();
    paused.release();
    let out = deploy.await.unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&survivor),
        "the URL is the survivor's: {}",
        out.stdout
    );
    assert!(out.stderr.contains("converging on it"), "{}", out.stderr);
    let status = wschat_run(&moto.endpoint, &name, &["status".into()]).await;
    assert_eq!(
        status.code, 0,
        "every permission names the survivor: {}{}",
        status.stdout, status.stderr
    );
    assert_eq!(routing_of(&name).await, (3, 8));
    let down = wschat_run(&moto.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
}

/// A "sandbox" that accepts connections and never answers, with credentials
/// where the `--local` commands look for them; held open while the listener lives.
fn silent_sandbox() -> (std::net::TcpListener, u16) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = wschat_test_support::dev_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("dev-{port}.env")),
        "AWS_ACCESS_KEY_ID=ASBX\nAWS_SECRET_ACCESS_KEY=s\n",
    )
    .unwrap();
    (silent, port)
}

/// Runs a command that must fail within the timeout, clearly.
async fn fails_in_time(mut cmd: std::process::Command, what: &str) {
    let started = Instant::now();
    let out = run({
        cmd.args(["--request-timeout", "2s"]);
        cmd
    })
    .await;
    let took = started.elapsed();
    assert_ne!(out.code, 0, "{what}: {}", out.stdout);
    assert!(took < Duration::from_secs(12), "{what} took {took:?}");
    let said = out.stderr.to_lowercase();
    assert!(
        said.contains("within") || said.contains("timed out") || said.contains("timeout"),
        "{what} says it gave up waiting: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_endpoint_fails_every_command_within_the_timeout() {
    let proxy = Proxy::start(&Moto::for_faults().endpoint).await;
    proxy.stall();
    let name = unique("stall");
    let zips = lambda_zips().display().to_string();
    for args in [
        vec!["status"],
        vec!["deploy", "--prebuilt", zips.as_str()],
        vec!["teardown", "--yes"],
        vec!["connections"],
        vec!["broadcast", "hello"],
        vec!["logs"],
        vec!["token", "--user", "ada"],
    ] {
        fails_in_time(command(&proxy.endpoint, &name, &args), &args.join(" ")).await;
    }

    // A sandbox that accepts connections and never answers.
    let (silent, port) = silent_sandbox();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["status"],
        vec!["connections"],
        vec!["broadcast", "hello"],
        vec!["logs"],
        vec!["token", "--user", "ada"],
    ] {
        let mut cmd = wschat();
        cmd.args(&args).args(["--local", &url]);
        fails_in_time(cmd, &format!("{} --local", args.join(" "))).await;
    }
    drop(silent);
}

/// The campaign's short form: AWS's behaviours on, a fifth of all requests
/// faulty, three fresh stacks deployed, redeployed and torn down. The long
/// form is `cargo bench --bench faults`.
#[tokio::test(flavor = "multi_thread")]
async fn three_cycles_at_a_fifth_of_requests_faulty_all_converge_in_one_run() {
    use wschat_test_support::realism::Realism;
    let moto = Moto::for_faults();
    let seed = wschat_test_support::realism::seed(
        "faults::three_cycles_at_a_fifth_of_requests_faulty_all_converge_in_one_run",
    );
    // The three cycles at once, each through its own proxy drawing from its
    // own seed (the printed one, plus 0, 1, 2): they wait on moto, not the CPU.
    let mut proxies = Vec::new();
    for i in 0..3 {
        let proxy = Proxy::start(&moto.endpoint).await;
        proxy.realistic(Realism::default());
        proxy.faults(Some(Faults::new(0.2, seed.wrapping_add(i))));
        proxies.push(proxy);
    }
    let bin: &std::path::Path = env!("CARGO_BIN_EXE_wschat").as_ref();
    let cycles = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let running: Vec<_> = proxies
                .iter()
                .enumerate()
                .map(|(i, proxy)| {
                    let moto = &moto.endpoint;
                    scope.spawn(move || {
                        let name = unique(&format!("camp{i}"));
                        wschat_test_support::campaign::cycle(
                            bin,
                            proxy,
                            moto,
                            lambda_zips(),
                            &name,
                            "20s",
                        )
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|t| t.join().expect("a cycle ran"))
                .collect::<Vec<_>>()
        })
    });
    for (i, cycle) in cycles.iter().enumerate() {
        assert!(cycle.clean(), "cycle {i}: {cycle:#?}");
    }
}

/// A deploy SIGKILLed after each one of its writes (every write of a fresh
/// deploy, not a sample) converges on the next run: complete, one API, and
/// a teardown that leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_after_any_of_its_writes_converges_on_the_next_run() {
    use wschat_test_support::proxy::writes;
    let moto = Moto::for_faults();
    let proxy = Proxy::start(&moto.endpoint).await;
    let counted = unique("count");
    let args = deploy_args(&[]);
    assert_eq!(wschat_run(&proxy.endpoint, &counted, &args).await.code, 0);
    let total = writes(&proxy.take()).len();
    assert!(total >= 20, "a fresh deploy writes every resource: {total}");
    assert_eq!(
        wschat_run(
            &proxy.endpoint,
            &counted,
            &["teardown".into(), "--yes".into()]
        )
        .await
        .code,
        0
    );

    // Every kill point, four lanes at once (each its own proxy, so each
    // counts its own deploy's writes): the deploys wait on moto, not the CPU.
    const LANES: usize = 4;
    let lane = async |lane: usize| {
        let proxy = Proxy::start(&moto.endpoint).await;
        for n in (1..=total).filter(|n| n % LANES == lane) {
            let name = unique(&format!("kill{n}x"));
            let plain: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = command(&proxy.endpoint, &name, &plain);
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            proxy.kill_at_write(child.id(), n);
            let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
                .await
                .unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "killed before write {n}");
            let rerun = wschat_run(&proxy.endpoint, &name, &args).await;
            assert_eq!(
                rerun.code, 0,
                "after a kill before write {n}:\n{}",
                rerun.stderr
            );
            assert_eq!(
                apis_named(&name).await,
                1,
                "one API after a kill before write {n}"
            );
            let status = wschat_run(&moto.endpoint, &name, &["status".into()]).await;
            assert_eq!(
                status.code, 0,
                "complete after a kill before write {n}:\n{}",
                status.stdout
            );
            let down =
                wschat_run(&proxy.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
            assert_eq!(
                down.code, 0,
                "nothing left after a kill before write {n}:\n{}",
                down.stdout
            );
        }
    };
    futures_util::future::join_all((0..LANES).map(lane)).await;
}

/// Ghosts in AWS mode: rows whose connection API Gateway no longer knows
/// (410 from `@connections`, played by the proxy since moto answers any id)
/// are marked by `--check`, pruned by `--prune`, and skipped and pruned by broadcast.
#[tokio::test(flavor = "multi_thread")]
async fn ghosts_on_aws_are_checked_pruned_and_counted_by_broadcast() {
    use wschat_lambdas::store::{Connection, ConnectionStore};
    let moto = Moto::for_faults();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("ghost");
    let args = deploy_args(&[]);
    assert_eq!(wschat_run(&proxy.endpoint, &name, &args).await.code, 0);
    let sdk = moto.sdk_config().await;
    let store = wschat_lambdas::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        format!("{name}-dev-connections"),
    );
    // Two ghosts a minute old, and a connection whose $connect is still
    // running: AWS answers 410 for it too, but its row must stay.
    let ids = [
        "live0live0live=",
        "gone1gone1gone=",
        "gone2gone2gone=",
        "open3open3open=",
    ];
    let now = wschat_lambdas::clock::now_ms();
    for (i, id) in ids.iter().enumerate() {
        let connected_at = if id.starts_with("gone") {
            now - 60_000
        } else {
            now
        };
        let row = Connection::new(id, &format!("user{i}"), "lobby", connected_at);
        store.put(&row).await.unwrap();
    }
    proxy.set_gone(&ids[1..]);
    let json =
        |out: &Run| serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap_or_default();
    let check = wschat_run(
        &proxy.endpoint,
        &name,
        &[
            "--output".into(),
            "json".into(),
            "connections".into(),
            "--check".into(),
        ],
    )
    .await;
    assert_eq!(
        json(&check)["ghosts"],
        2,
        "{}{}",
        check.stdout,
        check.stderr
    );
    let opening = json(&check)["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["connection_id"] == ids[3])
        .map(|r| r["state"].clone());
    assert_eq!(opening, Some("connecting".into()), "{}", check.stdout);
    let sent = wschat_run(
        &proxy.endpoint,
        &name,
        &[
            "--output".into(),
            "json".into(),
            "broadcast".into(),
            "hello".into(),
        ],
    )
    .await;
    let report = json(&sent);
    assert_eq!(
        (
            report["delivered"].as_u64(),
            report["pruned"].as_u64(),
            report["connecting"].as_u64(),
            report["failed"].as_u64()
        ),
        (Some(1), Some(2), Some(1), Some(0)),
        "{}",
        sent.stdout
    );
    let left = wschat_run(
        &proxy.endpoint,
        &name,
        &["--output".into(), "json".into(), "connections".into()],
    )
    .await;
    assert_eq!(
        json(&left)["count"],
        2,
        "broadcast pruned the ghosts' rows, not the opening one's"
    );
    let down = wschat_run(&proxy.endpoint, &name, &["teardown".into(), "--yes".into()]).await;
    assert_eq!(down.code, 0);
}

/// `broadcast --local` over a link that fails, throttles, drops, stalls and
/// loses replies (its first listing's reply among them), with faults drawn
/// from a printed seed. The report claims only what the CLI can know: a
/// client counted delivered has the frame, one counted failed does not,
/// and one whose post went unanswered is counted unknown; a frame sent
/// twice (a lost reply, retried) carries the one message id.
#[tokio::test(flavor = "multi_thread")]
async fn broadcast_local_through_a_faulty_link_counts_what_happened() {
    const CLIENTS: usize = 24;
    const TEXT: &str = "through the storm";
    let seed = wschat_test_support::realism::seed(
        "faults::broadcast_local_through_a_faulty_link_counts_what_happened",
    );
    let dev = Dev::start(&[]);
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(Client::join(&dev.ws_url(&format!("username=u{i}"))).await);
    }
    let proxy = Proxy::in_front_of_sandbox(dev.port).await;
    let listing = format!("GET /{}/@wschat/connections", dev.stage);
    let post = format!("POST /{}/@connections/*", dev.stage);
    proxy.lose_replies(&[&listing, &post, &post]);
    proxy.faults(Some(Faults::new(0.2, seed)));

    let mut cmd = wschat();
    cmd.args(["--output", "json", "--stage", &dev.stage])
        .args(["--request-timeout", "10s", "broadcast", TEXT])
        .args(["--local", &format!("http://127.0.0.2:{}", dev.port)]);
    let out = run(cmd).await;
    proxy.faults(None);
    assert!(out.code <= 1, "seed {seed}: {}{}", out.stdout, out.stderr);
    let report = out.json();
    assert!(
        proxy.replies_left_to_lose().is_empty(),
        "seed {seed}: the listing's reply and two posts' were lost, and retried"
    );

    let (mut reached, mut frames_seen) = (0, 0);
    let mut ids = std::collections::BTreeSet::new();
    for client in &mut clients {
        let frames: Vec<Value> = client
            .sync()
            .await
            .into_iter()
            .filter(|f| f["data"]["message"] == TEXT)
            .collect();
        reached += usize::from(!frames.is_empty());
        frames_seen += frames.len();
        ids.extend(frames.iter().map(|f| f["data"]["id"].to_string()));
    }
    let count = |key: &str| report[key].as_u64().unwrap() as usize;
    let (delivered, failed, unknown) = (count("delivered"), count("failed"), count("unknown"));
    assert_eq!(report["recipients"], CLIENTS, "seed {seed}: {report}");
    assert_eq!(report["pruned"], 0, "seed {seed}: {report}");
    assert_eq!(
        delivered + failed + unknown,
        CLIENTS,
        "seed {seed}: {report}"
    );
    assert!(
        delivered <= reached,
        "seed {seed}: every delivered client has it: {report}"
    );
    assert!(
        reached <= delivered + unknown,
        "seed {seed}: no client counted failed has it ({reached} reached): {report}"
    );
    assert!(
        ids.len() <= 1,
        "seed {seed}: one message id, however often sent: {ids:?}"
    );
    if unknown == 0 {
        assert!(
            frames_seen >= reached + 2,
            "seed {seed}: each post whose reply was lost was sent again and answered"
        );
    }
    assert_eq!(
        out.code,
        i32::from(failed + unknown > 0),
        "seed {seed}: {report}"
    );
}

/// SSM throttles the way its front door does: HTTP 429, the code only in
/// `x-amzn-ErrorType`. Every command that reads the secret retries it.
#[tokio::test(flavor = "multi_thread")]
async fn ssm_throttling_with_a_429_is_retried() {
    let proxy = Proxy::start(&Moto::for_faults().endpoint).await;
    let name = unique("ssm429");
    for args in [
        ["--output", "json", "status"],
        ["teardown", "--yes", "--dry-run"],
    ] {
        proxy.throttle_next(&["GetParameter", "GetParameter", "GetParameter"]);
        let out = run(command(&proxy.endpoint, &name, &args)).await;
        assert!(
            proxy.throttles_left().is_empty(),
            "{args:?}: three GetParameter calls were throttled"
        );
        assert!(
            !out.stderr.contains("SSM") && !out.stderr.contains("error"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.code != 1, "{args:?} exit {}: {}", out.code, out.stderr);
    }
}

/// An endpoint that answers, but not as AWS does, is named with its HTTP
/// status; a sandbox that never answers, with how long it was tried.
#[tokio::test(flavor = "multi_thread")]
async fn answers_that_are_not_aws_say_their_status_and_waits_say_how_long() {
    let dev = Dev::start(&[]);
    let mut at_the_sandbox = wschat();
    at_the_sandbox
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .args([
            "--region",
            "us-east-1",
            "--endpoint-url",
            &dev.base(),
            "status",
        ]);
    let out = run(at_the_sandbox).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("HTTP 4") && out.stderr.contains("no AWS error"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--endpoint-url"), "{}", out.stderr);

    let mut no_such_region = wschat();
    no_such_region
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .args([
            "--region",
            "mars-1",
            "--endpoint-url",
            &Moto::for_faults().endpoint,
        ])
        .args([
            "deploy",
            "--dry-run",
            "--prebuilt",
            &lambda_zips().display().to_string(),
        ]);
    let out = run(no_such_region).await;
    assert!(!out.stderr.contains("UnknownError"), "{}", out.stderr);

    let (silent, port) = silent_sandbox();
    let mut hung = wschat();
    hung.args(["--request-timeout", "3s", "broadcast", "hello"])
        .args(["--local", &format!("http://127.0.0.1:{port}")]);
    let out = run(hung).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("attempt(s) over") && out.stderr.contains("--request-timeout 3s"),
        "says how long it tried: {}",
        out.stderr
    );
    drop(silent);
}
