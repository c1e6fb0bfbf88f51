//! Observability: the functions' structured lines and metrics, and the
//! health section of `wschat status`, on `wschat dev` and on AWS.

use crate::bootstrap::message_event;
use crate::checks::{check_alarms, check_nothing_left, moto_stack};
use crate::harness::{eventually, lambda_zips, run, unzip_bootstrap, wschat_aws, Dev, Environment};
use serde_json::{json, Value};
use std::time::Duration;
use wschat::stack::{self, topic};
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::json_api::{JsonApi, CLOUDWATCH};
use wschat_lambdas::store::{Connection, ConnectionStore};
use wschat_test_support::moto::{sdk_config_at, unique, Moto};
use wschat_test_support::proxy::{writes, Proxy};
use wschat_test_support::runtime_api::RuntimeApi;

/// After a scripted conversation, `status --local` counts exactly what happened,
/// and the message function's log has the conversation's EMF lines without its text.
#[tokio::test]
async fn status_local_counts_a_scripted_conversation_exactly() {
    let dev = Dev::start(&[]);
    let [mut ada, mut bob, mut cy, mut eve] = dev
        .join_all([
            "username=ada",
            "username=bob",
            "username=cy",
            "username=eve&room=elsewhere",
        ])
        .await;
    // Refused at $connect for a bad name: a client error, not an auth refusal.
    let refused = tokio_tungstenite::connect_async(dev.ws_url("username=%3Cscript%3E")).await;
    assert!(refused.is_err());

    // Two room messages to three members, a direct message (its two parties),
    // and a malformed frame.
    for text in ["one", "two"] {
        ada.send_json(json!({"action": "sendMessage", "message": text}))
            .await;
        for client in [&mut ada, &mut bob, &mut cy] {
            assert_eq!(
                client.next_of_type("message").await["data"]["message"],
                text
            );
        }
    }
    bob.send_json(json!({"action": "sendMessage", "message": "psst", "to": "cy"}))
        .await;
    cy.next_of_type("message").await;
    bob.next_of_type("message").await;
    eve.send_text("not json").await;
    eve.next_of_type("error").await;
    drop(bob);

    let health = eventually(
        Duration::from_secs(10),
        "bob's $disconnect counted",
        async || {
            let status = dev.local_json(&["status"]).await;
            let health = status["health"].clone();
            (health["counts"]["Disconnects"] == 1.0).then_some(health)
        },
    )
    .await;
    let counts = &health["counts"];
    assert_eq!(counts["Connects"], 4.0, "{health}");
    assert_eq!(counts["Messages"], 3.0, "{health}");
    assert_eq!(counts["Deliveries"], 8.0, "{health}");
    assert_eq!(counts["ClientErrors"], 2.0, "{health}");
    for absent in ["Errors", "AuthRefusals", "FailedDeliveries", "Pruned"] {
        assert!(counts.get(absent).is_none(), "{absent}: {health}");
    }
    assert_eq!(health["connections"], 3, "{health}");
    assert_eq!(health["since_seconds"], 900);
    assert!(
        health["fanout_ms"]["p99"].as_f64().unwrap()
            >= health["fanout_ms"]["p50"].as_f64().unwrap()
    );

    let text = dev.local(&["status", "--output", "text"]).await;
    // The README's example of `status --local` is this output.
    println!("{}", text.stdout);
    assert!(
        text.stdout.contains("3 (0.2/min); 8 deliveries"),
        "{}",
        text.stdout
    );

    let logs = dev.local_json(&["logs", "message"]).await;
    let lines: Vec<Value> = logs["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| serde_json::from_str(e["message"].as_str()?).ok())
        .filter(|line: &Value| line.get("_aws").is_some())
        .collect();
    let sent: Vec<&Value> = lines.iter().filter(|l| l["Messages"] == 1.0).collect();
    assert_eq!(sent.len(), 3, "{lines:?}");
    assert_eq!(sent[0]["Stack"], format!("wschat-{}", dev.stage));
    assert_eq!(sent[0]["room"], "lobby");
    assert!(
        sent[2].get("room").is_none(),
        "a direct message names no room"
    );
    for line in &lines {
        let raw = line.to_string();
        assert!(!raw.contains("psst") && !raw.contains("\"two\""), "{raw}");
    }
}

/// A stack in moto deployed with `--alarm-email`: its topic, alarms and
/// dashboard, an unchanged redeploy that writes nothing, `status`'s health
/// fed by the message function's own EMF lines (extracted as CloudWatch
/// does) and by metrics put as API Gateway and Lambda would, its exit code
/// once an alarm fires, and a teardown that leaves nothing. moto has no
/// percentiles and no quotas for these services: the proxy supplies both
/// (wschat_test_support::metrics).
#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_stack_reports_its_health_and_its_alarms_wake_someone() {
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("health");
    let aws = |args: &[&str]| {
        let mut cmd = wschat_aws(&proxy.endpoint, &name);
        cmd.args(["--output", "json"]).args(args);
        cmd
    };
    let deploy = async || {
        let mut cmd = aws(&["deploy", "--alarm-email", "ops@example.com", "--prebuilt"]);
        cmd.arg(lambda_zips());
        let out = run(cmd).await;
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        out.json()
    };
    let first = deploy().await;
    let created: Vec<&str> = first["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| ["alarm topic", "alarms", "dashboard"].contains(&r["kind"].as_str().unwrap()))
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(created, ["created"; 3], "{first}");
    let api_id = first["websocket_url"].as_str().unwrap()[6..]
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let mut stack = moto_stack(&name).await;
    stack.spec.settings.alarm_email = Some("ops@example.com".into());
    check_alarms(&stack, &api_id).await;
    let topic = topic::find(&stack).await.unwrap().expect("the alarm topic");
    assert!(stack.spec.owns(&topic.tags));
    assert!(topic.confirmed("ops@example.com").is_some(), "{topic:?}");

    proxy.take();
    let again = deploy().await;
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "an unchanged redeploy writes nothing: {again}"
    );

    // The message function, run by its real bootstrap: three members hear one message.
    let table = format!("{name}-dev-connections");
    let sdk = moto.sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    for (id, user) in [
        ("AAAAAAAAAAAAAAA=", "ada"),
        ("BBBBBBBBBBBBBBB=", "bob"),
        ("CCCCCCCCCCCCCCC=", "cy"),
    ] {
        let row = Connection::new(id, user, "lobby", wschat_lambdas::clock::now_ms() - 60_000);
        store.put(&row).await.unwrap();
    }
    let api = RuntimeApi::start().await;
    let binary =
        tokio::task::block_in_place(|| unzip_bootstrap(&lambda_zips().join("message.zip")));
    let stack_name = format!("{name}-dev");
    let function = format!("{stack_name}-message");
    let env = [("WSCHAT_STACK", stack_name.as_str())];
    let (_message, lines) =
        Environment::logged(&binary, &api, &function, &proxy.endpoint, &table, &env);
    let domain = api.addr.to_string();
    let body = r#"{"action":"sendMessage","message":"the secret plan"}"#;
    let answer = api
        .invoke(message_event(
            &domain,
            "AAAAAAAAAAAAAAA=",
            "sendMessage",
            body,
        ))
        .await;
    assert_eq!(answer.unwrap()["statusCode"], 200);
    assert_eq!(api.take_posts().len(), 3);

    // What CloudWatch Logs does with the function's EMF line; what API Gateway and Lambda publish.
    let cloudwatch = JsonApi::new(
        sdk_config_at(&proxy.endpoint).await,
        &CLOUDWATCH,
        Duration::from_secs(10),
    );
    let line = tokio::task::block_in_place(|| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the function's EMF line");
        if line.contains("\"_aws\"") {
            break line;
        }
    });
    assert!(
        !line.contains("secret plan"),
        "no message text in the logs: {line}"
    );
    for input in wschat_test_support::metrics::emf(&line).unwrap() {
        cloudwatch.call("PutMetricData", &input).await.unwrap();
    }
    let api_dims = json!([{"Name": "ApiId", "Value": api_id}, {"Name": "Stage", "Value": "dev"}]);
    let latencies: Vec<f64> = (1..=100).map(f64::from).collect();
    let published = json!({"Namespace": "AWS/ApiGateway", "MetricData": [
        {"MetricName": "IntegrationLatency", "Dimensions": api_dims, "Values": latencies, "Unit": "Milliseconds"},
        {"MetricName": "ConnectCount", "Dimensions": api_dims, "Value": 3, "Unit": "Count"},
    ]});
    cloudwatch.call("PutMetricData", &published).await.unwrap();
    let errors = json!({"Namespace": "AWS/Lambda", "MetricData": [
        {"MetricName": "Errors", "Dimensions": [{"Name": "FunctionName", "Value": function}], "Value": 2, "Unit": "Count"},
    ]});
    cloudwatch.call("PutMetricData", &errors).await.unwrap();

    proxy.take();
    let status = run(aws(&["status"])).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let report = status.json();
    let health = &report["health"];
    assert_eq!(health["counts"]["Messages"], 1.0, "{health}");
    assert_eq!(health["counts"]["Deliveries"], 3.0, "{health}");
    assert_eq!(health["gateway"]["connects"], 3.0, "{health}");
    assert_eq!(
        health["gateway"]["integration_latency_ms"],
        json!({"p50": 50.0, "p99": 99.0})
    );
    assert_eq!(health["functions"]["errors"], 2.0, "{health}");
    assert_eq!(health["alarms_firing"], json!([]));
    let quotas: Vec<f64> = health["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["quota"].as_f64().unwrap())
        .collect();
    assert_eq!(quotas, [10_000.0, 1_000.0]);
    assert!(report["dashboard_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("dashboard/{stack_name}")));
    let calls = proxy.take();
    let metric_reads = calls
        .iter()
        .filter(|c| c.operation == "GetMetricData")
        .count();
    assert_eq!(metric_reads, 1, "every series in one GetMetricData");

    // An alarm fires: status says which, and exits 4.
    let alarm = format!("{stack_name}-chat-errors");
    let fire = json!({"AlarmName": alarm, "StateValue": "ALARM", "StateReason": "test"});
    cloudwatch.call("SetAlarmState", &fire).await.unwrap();
    let alarming = run(aws(&["status"])).await;
    assert_eq!(alarming.code, 4, "{}{}", alarming.stdout, alarming.stderr);
    assert_eq!(alarming.json()["health"]["alarms_firing"], json!([alarm]));
    let text = run({
        let mut c = wschat_aws(&proxy.endpoint, &name);
        c.arg("status");
        c
    })
    .await;
    // The README's example of a status with health is this output.
    println!("{}", text.stdout);
    assert!(
        text.stdout.contains(&format!("ALARM         {alarm}")),
        "{}",
        text.stdout
    );

    let down = run(aws(&["teardown", "--yes"])).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(down.json()["leftovers"], json!([]));
    check_nothing_left(&stack).await;
}

/// `--access-logs`: refused before any write while the account has no
/// logging role; with `--set-account-logging-role`, the role is made and set,
/// the stage logs to its group, a redeploy writes nothing, `logs --follow`
/// shows a new access-log line merged with the functions', and teardown
/// leaves the account setting and says so.
#[tokio::test(flavor = "multi_thread")]
async fn access_logs_need_the_accounts_logging_role_and_follow_shows_them() {
    // The account setting is the shared moto's: only this test sets it.
    let moto = Moto::shared();
    let proxy = Proxy::start(&moto.endpoint).await;
    let name = unique("access");
    let aws = |args: &[&str]| {
        let mut cmd = wschat_aws(&proxy.endpoint, &name);
        cmd.args(["--output", "json"]).args(args);
        cmd
    };
    let deploy = |extra: &[&str]| {
        let mut cmd = aws(&["deploy", "--access-logs"]);
        cmd.args(extra).arg("--prebuilt").arg(lambda_zips());
        cmd
    };
    proxy.take();
    let refused = run(deploy(&[])).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--set-account-logging-role"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "refused before any write"
    );

    let first = run(deploy(&["--set-account-logging-role"])).await;
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let stack = moto_stack(&name).await;
    let role = stack::account::logging_role(&stack).await.unwrap();
    assert_eq!(
        role.as_deref(),
        Some(stack.spec.account_logging_role_arn().as_str())
    );
    let api_id = first.json()["websocket_url"].as_str().unwrap()[6..]
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let found = stack::stage::find(&stack, &api_id).await.unwrap().unwrap();
    let logging = found.access_log_settings.expect("access log settings");
    assert_eq!(
        logging.destination_arn.as_deref(),
        Some(stack.spec.access_log_group_arn().as_str())
    );
    assert!(logging.format.unwrap().contains("$context.connectionId"));
    let group = stack::logs::find(&stack, &stack.spec.access_log_group())
        .await
        .unwrap();
    assert_eq!(
        group.expect("the access log group").retention_in_days,
        Some(14)
    );

    proxy.take();
    let again = run(deploy(&[])).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        writes(&proxy.take()),
        Vec::<String>::new(),
        "an unchanged redeploy writes nothing"
    );

    // `logs --follow`, then a request's line arrives in the access log, as API Gateway writes it.
    let mut follow = aws(&["logs", "--follow", "--since", "1m"]);
    let mut child = follow.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let logs = &stack.clients.logs;
    let group = stack.spec.access_log_group();
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name("stage")
        .send()
        .await
        .unwrap();
    let line = json!({"requestId": "r1", "eventType": "CONNECT", "routeKey": "$connect", "connectionId": "AAAAAAAAAAAAAAA=", "status": "200"});
    let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
        .timestamp(wschat_lambdas::clock::now_ms())
        .message(line.to_string())
        .build()
        .unwrap();
    logs.put_log_events()
        .log_group_name(&group)
        .log_stream_name("stage")
        .log_events(event)
        .send()
        .await
        .unwrap();
    let shown = tokio::task::block_in_place(|| loop {
        let line = received
            .recv_timeout(Duration::from_secs(20))
            .expect("--follow shows the new line");
        if line.contains("AAAAAAAAAAAAAAA=") {
            break line;
        }
    });
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["function"], "access", "{shown}");
    let _ = child.kill();
    let _ = child.wait();

    let down = run(aws(&["teardown", "--yes"])).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    let report = down.json();
    assert_eq!(report["leftovers"], json!([]));
    assert_eq!(
        report["account_logging_role"],
        stack.spec.account_logging_role_arn().as_str()
    );
    assert!(
        stack::account::logging_role(&stack)
            .await
            .unwrap()
            .is_some(),
        "the account setting stays"
    );
    check_nothing_left(&stack).await;
}
