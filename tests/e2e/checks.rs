//! One check per resource of a stack deployed in moto. Each reads the
//! resource with the stack's own `find` (what deploy and status read) and
//! asserts what AWS must hold for the chat to work. A new resource adds its
//! check here and to [`check_stack`]; [`check_nothing_left`] is teardown's.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use wschat::spec::{Function, Settings, StackId, StackSpec};
use wschat::stack::table::Table;
use wschat::stack::{
    alarms, api, dashboard, function, invoke_config, logs, permission, policy, queue, role, stage,
    table, topic, Stack,
};
use wschat_test_support::moto::Moto;

/// The stack `{name}-dev` in the tests' moto, for the stack's own lookups.
pub async fn moto_stack(name: &str) -> Stack {
    let sdk = Moto::shared().sdk_config().await;
    let clients = wschat::aws::Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        iam: aws_sdk_iam::Client::new(&sdk),
        lambda: aws_sdk_lambda::Client::new(&sdk),
        apigw: aws_sdk_apigatewayv2::Client::new(&sdk),
        logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
        sts: aws_sdk_sts::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        timeout: std::time::Duration::from_secs(30),
        region: "us-east-1".to_owned(),
        sdk,
    };
    let id = StackId::new(name, "dev").unwrap();
    let spec = StackSpec::new(&id, "us-east-1", "123456789012", Settings::default());
    Stack { clients, spec }
}

fn assert_ours(stack: &Stack, tags: &HashMap<String, String>) {
    assert!(stack.spec.owns(tags), "tagged as this stack's: {tags:?}");
}

/// IAM hands documents back URL-encoded.
fn document(encoded: &str) -> Value {
    let text = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Both tables: keys, indexes and their projections, on-demand billing, TTL, tags.
pub async fn check_tables(stack: &Stack) {
    let wanted = [
        (
            Table::Connections,
            vec!["connectionId"],
            vec![
                ("room-index", "ALL"),
                ("room-shard-index", "ALL"),
                ("username-index", "ALL"),
            ],
            "ttl",
        ),
        (
            Table::Messages,
            vec!["pk", "sk"],
            vec![("id-index", "KEYS_ONLY")],
            "expiresAt",
        ),
    ];
    for (which, keys, wanted_indexes, ttl_attribute) in wanted {
        let table = table::find(stack, which).await.unwrap().expect("the table");
        let key_schema: Vec<&str> = table
            .key_schema()
            .iter()
            .map(|k| k.attribute_name.as_str())
            .collect();
        assert_eq!(key_schema, keys, "{which:?}");
        let mut indexes: Vec<_> = table
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                let projection = i
                    .projection
                    .as_ref()
                    .and_then(|p| p.projection_type.clone());
                (
                    i.index_name.clone().unwrap(),
                    projection.unwrap().as_str().to_owned(),
                )
            })
            .collect();
        indexes.sort();
        let wanted_indexes: Vec<(String, String)> = wanted_indexes
            .iter()
            .map(|(i, p)| (i.to_string(), p.to_string()))
            .collect();
        assert_eq!(indexes, wanted_indexes);
        let billing = table.billing_mode_summary.clone().unwrap().billing_mode;
        assert_eq!(billing.unwrap().as_str(), "PAY_PER_REQUEST");
        let db = &stack.clients.dynamodb;
        let ttl = db
            .describe_time_to_live()
            .table_name(which.name(&stack.spec.id))
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description.unwrap();
        assert_eq!(ttl.attribute_name.as_deref(), Some(ttl_attribute));
        let arn = table.table_arn.unwrap();
        let tags = db.list_tags_of_resource().resource_arn(arn).send().await;
        let tags = tags.unwrap().tags.unwrap();
        assert_ours(stack, &tags.into_iter().map(|t| (t.key, t.value)).collect());
    }
}

pub async fn check_role(stack: &Stack) {
    let role = role::find(stack).await.unwrap().expect("the role");
    let trust = document(role.assume_role_policy_document.as_deref().unwrap());
    assert!(
        trust.to_string().contains("lambda.amazonaws.com"),
        "{trust}"
    );
    let tags = role.tags().iter();
    assert_ours(
        stack,
        &tags.map(|t| (t.key.clone(), t.value.clone())).collect(),
    );
    let attached = stack
        .clients
        .iam
        .list_attached_role_policies()
        .role_name(stack.spec.role())
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "no managed policy");
}

/// Least privilege: every statement names its resources, this stack's only.
pub async fn check_policy(stack: &Stack, api_id: &str) {
    let found = policy::find(stack).await.unwrap().expect("the policy");
    let policy = document(&found);
    let mut resources = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        match &statement["Resource"] {
            Value::Array(list) => resources.extend(list.iter().map(|r| r.as_str().unwrap())),
            one => resources.push(one.as_str().unwrap()),
        }
    }
    let prefix = stack.spec.prefix();
    assert!(
        resources
            .iter()
            .all(|r| *r != "*" && r.starts_with("arn:aws:")),
        "{resources:?}"
    );
    assert!(resources.contains(&stack.spec.table_arn().as_str()));
    let connections =
        format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/dev/*/@connections/*");
    assert!(resources.contains(&connections.as_str()), "{resources:?}");
    let groups = resources
        .iter()
        .filter(|r| r.contains(":log-group:/aws/lambda/"));
    assert_eq!(groups.count(), 4, "{prefix}: {resources:?}");
    // The message function may invoke its own stack's delivery function, and
    // Lambda may land failed deliveries in its own queue: nothing else.
    let statement = |sid: &str| {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap_or_else(|| panic!("a {sid} statement"))
    };
    let invoke = statement("InvokeDelivery");
    assert_eq!(invoke["Action"], "lambda:InvokeFunction");
    assert_eq!(
        invoke["Resource"],
        stack.spec.function_arn(Function::Deliver)
    );
    // The messages table and its id index: nothing else of DynamoDB's beyond the connections table.
    let messages = statement("MessagesTable");
    let arn = stack.spec.messages_table_arn();
    assert_eq!(
        messages["Resource"],
        serde_json::json!([arn, format!("{arn}/index/id-index")])
    );
    let dead_letters = statement("DeadLetters");
    assert_eq!(dead_letters["Action"], "sqs:SendMessage");
    assert_eq!(dead_letters["Resource"], stack.spec.dead_letter_queue_arn());
}

/// The dead-letter queue keeps failed deliveries for 14 days, tagged as ours.
pub async fn check_queue(stack: &Stack) {
    let found = queue::find(stack).await.unwrap().expect("the queue");
    assert!(queue::QueueDiff::between(&found).is_empty(), "{found:?}");
    assert_ours(stack, &found.tags);
    assert_eq!(found.depth(), 0);
}

/// Failed delivery jobs go to the queue after two retries.
pub async fn check_invoke_config(stack: &Stack) {
    let name = stack.spec.function_name(Function::Deliver);
    let found = invoke_config::find(stack, &name)
        .await
        .unwrap()
        .expect("the delivery function's invoke config");
    let diff =
        invoke_config::InvokeConfigDiff::between(&found, &stack.spec.dead_letter_queue_arn());
    assert!(diff.is_empty(), "{:?}", diff.fields());
}

/// Runtime, handler, role, environment, the uploaded zip, tags.
pub async fn check_function(stack: &Stack, f: Function, zips: &Path) {
    let name = stack.spec.function_name(f);
    let found = function::find(stack, &name)
        .await
        .unwrap()
        .expect("the function");
    let config = found.configuration.unwrap();
    assert_eq!(config.runtime.unwrap().as_str(), "provided.al2023");
    assert_eq!(config.handler.as_deref(), Some("bootstrap"));
    assert_eq!(config.role, Some(stack.spec.role_arn()));
    let env = config.environment.unwrap().variables.unwrap();
    assert_eq!(env["TABLE_NAME"], stack.spec.table());
    // Connect hands history to the delivery function, message hands large rooms to it.
    match f {
        Function::Message | Function::Connect => assert_eq!(
            env["WSCHAT_DELIVER_FUNCTION"],
            stack.spec.function_name(Function::Deliver)
        ),
        Function::Deliver => assert_eq!(config.timeout, Some(function::DELIVER_TIMEOUT_S)),
        Function::Disconnect => assert!(!env.contains_key("WSCHAT_DELIVER_FUNCTION")),
    }
    match f {
        Function::Disconnect => assert!(!env.contains_key("MESSAGES_TABLE")),
        _ => {
            assert_eq!(env["MESSAGES_TABLE"], stack.spec.messages_table());
            assert_eq!(env["WSCHAT_HISTORY_TTL"], "604800");
            assert_eq!(env["WSCHAT_HISTORY_ON_JOIN"], "50");
        }
    }
    let zip = std::fs::read(zips.join(format!("{}.zip", f.name()))).unwrap();
    let sha = aws_smithy_types::base64::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip));
    assert_eq!(
        config.code_sha256,
        Some(sha),
        "the uploaded code is the local zip"
    );
    assert_ours(stack, &found.tags.unwrap());
}

/// API Gateway may invoke the function, from the stack's API only.
pub async fn check_permission(stack: &Stack, f: Function, api_id: &str) {
    let name = stack.spec.function_name(f);
    let source = permission::find(stack, &name).await.unwrap();
    assert_eq!(source, Some(stack.spec.api_source_arn(api_id)), "{name}");
}

pub async fn check_log_group(stack: &Stack, f: Function) {
    let group = logs::find(stack, &stack.spec.log_group(f)).await.unwrap();
    assert_eq!(group.expect("the log group").retention_in_days, Some(14));
}

pub async fn check_api(stack: &Stack, api_id: &str) {
    let found = api::find(stack).await.unwrap().expect("the API");
    assert_eq!(found.api_id.as_deref(), Some(api_id));
    assert_eq!(found.protocol_type.as_ref().unwrap().as_str(), "WEBSOCKET");
    assert!(api::ApiDiff::between(&found).is_empty(), "route selection");
    assert_ours(stack, &found.tags.unwrap());
}

/// One integration per function, one route per key, each route on its function's.
pub async fn check_routing(stack: &Stack, api_id: &str) {
    let apigw = &stack.clients.apigw;
    let integrations = apigw.get_integrations().api_id(api_id).send().await;
    let integrations = integrations.unwrap().items.unwrap();
    assert_eq!(integrations.len(), 3);
    assert!(integrations
        .iter()
        .all(|i| i.integration_type.as_ref().unwrap().as_str() == "AWS_PROXY"));
    let uri_of: HashMap<String, String> = integrations
        .into_iter()
        .map(|i| (i.integration_id.unwrap(), i.integration_uri.unwrap()))
        .collect();
    let routes = apigw.get_routes().api_id(api_id).send().await;
    let mut keys = Vec::new();
    for route in routes.unwrap().items.unwrap() {
        let key = route.route_key.unwrap();
        let target = route.target.unwrap();
        let function = match key.as_str() {
            "$connect" => Function::Connect,
            "$disconnect" => Function::Disconnect,
            _ => Function::Message,
        };
        let uri = &uri_of[target.strip_prefix("integrations/").unwrap()];
        let wanted = format!(":function:{}/", stack.spec.function_name(function));
        assert!(uri.contains(&wanted), "{key} → {uri}");
        keys.push(key);
    }
    keys.sort();
    let expected = [
        "$connect",
        "$default",
        "$disconnect",
        "history",
        "join",
        "sendMessage",
        "typing",
        "who",
    ];
    assert_eq!(keys, expected);
}

pub async fn check_stage(stack: &Stack, api_id: &str) {
    let found = stage::find(stack, api_id)
        .await
        .unwrap()
        .expect("the stage");
    let diff = stage::StageDiff::between(&found, &stack.spec);
    assert!(diff.is_empty(), "{:?}", diff.fields());
}

/// Every alarm, tagged as the stack's and as it wants it; none notifies
/// anyone unless the settings name a topic.
pub async fn check_alarms(stack: &Stack, api_id: &str) {
    let found = alarms::find(stack).await.unwrap();
    let wanted = alarms::wanted(&stack.spec, api_id);
    assert_eq!(found.len(), wanted.len(), "{found:?}");
    for w in &wanted {
        let f = found
            .iter()
            .find(|f| f.alarm.name == w.name)
            .expect(&w.name);
        assert_ours(stack, &f.tags);
        assert_eq!(&f.alarm, w);
    }
}

pub async fn check_dashboard(stack: &Stack, api_id: &str) {
    let body = dashboard::find(stack)
        .await
        .unwrap()
        .expect("the dashboard");
    assert_eq!(body, dashboard::body(&stack.spec, api_id));
}

/// Every resource of the stack, as deploy made it.
pub async fn check_stack(stack: &Stack, api_id: &str, zips: &Path) {
    check_tables(stack).await;
    check_role(stack).await;
    check_policy(stack, api_id).await;
    for f in Function::ALL {
        check_function(stack, f, zips).await;
        check_log_group(stack, f).await;
    }
    for f in Function::ROUTED {
        check_permission(stack, f, api_id).await;
    }
    check_queue(stack).await;
    check_invoke_config(stack).await;
    check_api(stack, api_id).await;
    check_routing(stack, api_id).await;
    check_stage(stack, api_id).await;
    check_alarms(stack, api_id).await;
    check_dashboard(stack, api_id).await;
    assert!(
        topic::find(stack).await.unwrap().is_none(),
        "no topic without --alarm-email"
    );
}

/// After teardown: each resource's own lookup finds nothing, and the role is
/// gone (IAM's NoSuchEntity), not merely unreadable.
pub async fn check_nothing_left(stack: &Stack) {
    for which in Table::ALL {
        let found = table::find(stack, which).await.unwrap();
        assert!(found.is_none(), "the {which:?} table");
    }
    assert!(queue::find(stack).await.unwrap().is_none(), "the queue");
    assert!(api::find(stack).await.unwrap().is_none(), "the API");
    assert!(alarms::find(stack).await.unwrap().is_empty(), "the alarms");
    assert!(
        dashboard::find(stack).await.unwrap().is_none(),
        "the dashboard"
    );
    assert!(topic::find(stack).await.unwrap().is_none(), "the topic");
    for f in Function::ALL {
        let name = stack.spec.function_name(f);
        assert!(
            function::find(stack, &name).await.unwrap().is_none(),
            "{name}"
        );
        let group = stack.spec.log_group(f);
        assert!(
            logs::find(stack, &group).await.unwrap().is_none(),
            "{group}"
        );
    }
    let iam = &stack.clients.iam;
    let role = iam.get_role().role_name(stack.spec.role()).send().await;
    assert!(
        role.is_err_and(|e| e.into_service_error().is_no_such_entity_exception()),
        "the role is gone (NoSuchEntity)"
    );
    let leftovers = wschat::stack::teardown::leftovers(stack).await.unwrap();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
