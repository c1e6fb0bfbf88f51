//! Each built bootstrap run as Lambda runs it: through the Runtime API, on
//! API Gateway's event JSON, against a DynamoDB table in moto.

use crate::harness::{connections_table, lambda_zips, unzip_bootstrap, Environment};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wschat_lambdas::store::ConnectionStore;
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::runtime_api::RuntimeApi;

/// The `bootstrap` of one of the tested zips, unpacked as Lambda unpacks it.
pub(crate) fn unzip_function(function: &str) -> PathBuf {
    unzip_bootstrap(&lambda_zips().join(format!("{function}.zip")))
}

fn start(binary: &Path, api: &RuntimeApi, table: &str) -> Environment {
    start_with(binary, api, table, &[])
}

fn start_with(binary: &Path, api: &RuntimeApi, table: &str, env: &[(&str, &str)]) -> Environment {
    Environment::start(
        binary,
        api,
        "wschat-dev-fn",
        &Moto::shared().endpoint,
        table,
        env,
    )
}

fn fixture(name: &str, domain: &str, connection: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("DOMAIN", domain)
        .replace("CONNECTION", connection);
    serde_json::from_str(&text).unwrap()
}

fn connect_event(domain: &str, id: &str, query: Value) -> Value {
    let mut event = fixture("connect", domain, id);
    event["queryStringParameters"] = query;
    event
}

pub(crate) fn message_event(domain: &str, id: &str, route: &str, body: &str) -> Value {
    let mut event = fixture("message", domain, id);
    event["requestContext"]["routeKey"] = route.into();
    event["body"] = body.into();
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn the_three_zipped_functions_serve_a_chat_through_the_runtime_api() {
    let table = unique("bootstrap");
    let store = connections_table(&table).await;

    let (connect_api, message_api, disconnect_api) = (
        RuntimeApi::start().await,
        RuntimeApi::start().await,
        RuntimeApi::start().await,
    );
    // The message function posts to @connections on the domain in its events: the test's recorder.
    let domain = message_api.addr.to_string();
    let binaries =
        tokio::task::block_in_place(|| ["connect", "message", "disconnect"].map(unzip_function));
    let _c = start(&binaries[0], &connect_api, &table);
    // The message function keeps history in the messages table, as deployed.
    let messages = format!("{table}-messages");
    let sdk = wschat_test_support::moto::Moto::shared().sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kind = wschat::stack::table::Table::Messages;
    wschat::stack::table::create(&dynamodb, kind, &messages, Default::default())
        .await
        .unwrap();
    let _m = start_with(
        &binaries[1],
        &message_api,
        &table,
        &[("MESSAGES_TABLE", &messages)],
    );
    let _d = start(&binaries[2], &disconnect_api, &table);

    // The connect function's answer to one handshake: its status code.
    let connect = async |id: &str, query: Value| {
        let answer = connect_api.invoke(connect_event(&domain, id, query)).await;
        answer.unwrap()["statusCode"].clone()
    };
    assert_eq!(
        connect("AAAAAAAAAAAAAAA=", json!({"username": "ada"})).await,
        200
    );
    assert_eq!(
        connect("BBBBBBBBBBBBBBB=", json!({"userId": "2"})).await,
        200
    );
    let row = store
        .get("AAAAAAAAAAAAAAA=")
        .await
        .unwrap()
        .expect("row written by the connect function");
    assert_eq!((row.username.as_str(), row.room.as_str()), ("ada", "lobby"));
    assert_eq!(row.connected_at, 1795426812000);

    assert_eq!(
        connect("CCCCCCCCCCCCCCC=", json!({"username": "<x>"})).await,
        400,
        "a bad name rejects the handshake"
    );
    assert!(store.get("CCCCCCCCCCCCCCC=").await.unwrap().is_none());

    let joins = message_api.take_posts();
    assert!(
        joins
            .iter()
            .any(|(id, f)| id == "AAAAAAAAAAAAAAA=" && f["type"] == "join"),
        "ada heard 2 arrive: {joins:?}"
    );
    let body = r#"{"action":"sendMessage","message":"hello from lambda"}"#;
    let answer = message_api
        .invoke(message_event(
            &domain,
            "BBBBBBBBBBBBBBB=",
            "sendMessage",
            body,
        ))
        .await;
    assert_eq!(answer.unwrap()["statusCode"], 200);
    let mut posts = message_api.take_posts();
    posts.sort_by(|a, b| a.0.cmp(&b.0));
    let receivers: Vec<&str> = posts.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(receivers, ["AAAAAAAAAAAAAAA=", "BBBBBBBBBBBBBBB="]);
    for (_, frame) in &posts {
        assert_eq!(frame["type"], "message");
        assert_eq!(frame["data"]["message"], "hello from lambda");
        assert_eq!(frame["data"]["username"], "2");
    }
    let page = r#"{"action":"history"}"#;
    let answer = message_api
        .invoke(message_event(&domain, "AAAAAAAAAAAAAAA=", "history", page))
        .await;
    assert_eq!(answer.unwrap()["statusCode"], 200);
    let posts = message_api.take_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].1["type"], "history");
    let kept = &posts[0].1["data"]["messages"];
    assert_eq!(
        kept[0]["message"], "hello from lambda",
        "stored in the table"
    );

    let answer = message_api
        .invoke(message_event(
            &domain,
            "AAAAAAAAAAAAAAA=",
            "$default",
            "not json",
        ))
        .await;
    assert_eq!(
        answer.unwrap()["statusCode"],
        200,
        "a client mistake is never a 5xx"
    );
    let posts = message_api.take_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, "AAAAAAAAAAAAAAA=");
    assert_eq!(posts[0].1["data"]["code"], "bad_json");

    let answer = disconnect_api
        .invoke(fixture("disconnect", &domain, "AAAAAAAAAAAAAAA="))
        .await;
    assert_eq!(answer.unwrap()["statusCode"], 200);
    assert!(
        store.get("AAAAAAAAAAAAAAA=").await.unwrap().is_none(),
        "$disconnect removed the row"
    );
    assert!(store.get("BBBBBBBBBBBBBBB=").await.unwrap().is_some());
}

/// Token mode as deployed: the connect function reads its secret from SSM
/// (moto's) with its own signed call, once, and admits only this stack's tokens.
#[tokio::test(flavor = "multi_thread")]
async fn the_connect_function_in_token_mode_reads_its_secret_from_ssm() {
    use wschat_lambdas::auth::token;
    let name = unique("tokfn");
    let table = unique("bootstrap");
    let _store = connections_table(&table).await;
    let parameter = format!("/wschat/{name}/dev/token-secret");
    let sdk = Moto::shared().sdk_config().await;
    let ssm = wschat_lambdas::auth::ssm::client(sdk, std::time::Duration::from_secs(10));
    let input = json!({"Name": parameter, "Value": "the-stack-secret", "Type": "SecureString"});
    let put = ssm.call("PutParameter", &input).await.unwrap();
    let version = put["Version"].to_string();
    let audience = token::audience(&format!("{name}-dev"));
    let api = RuntimeApi::start().await;
    let binary = tokio::task::block_in_place(|| unzip_function("connect"));
    let _connect = start_with(
        &binary,
        &api,
        &table,
        &[
            ("WSCHAT_AUTH", "token"),
            ("WSCHAT_TOKEN_PARAMETER", &parameter),
            ("WSCHAT_TOKEN_PARAMETER_VERSION", &version),
            ("WSCHAT_TOKEN_AUDIENCE", &audience),
        ],
    );
    let domain = api.addr.to_string();
    let status = async |id: &str, query: Value| {
        let answer = api.invoke(connect_event(&domain, id, query)).await;
        answer.unwrap()["statusCode"].clone()
    };
    let ttl = token::DEFAULT_TTL;
    let ada = token::mint(b"the-stack-secret", &audience, "ada", None, ttl).unwrap();
    let forged = token::mint(b"a guess", &audience, "ada", None, ttl).unwrap();
    let other = token::mint(b"the-stack-secret", "wschat:other-dev", "ada", None, ttl).unwrap();
    assert_eq!(
        status("AAAAAAAAAAAAAAA=", json!({"token": ada, "username": "bob"})).await,
        200
    );
    assert_eq!(
        status("BBBBBBBBBBBBBBB=", json!({"username": "ada"})).await,
        401,
        "no token"
    );
    assert_eq!(
        status("CCCCCCCCCCCCCCC=", json!({"token": forged})).await,
        401,
        "forged"
    );
    assert_eq!(
        status("DDDDDDDDDDDDDDD=", json!({"token": other})).await,
        401,
        "another stack's"
    );
    let row = _store
        .get("AAAAAAAAAAAAAAA=")
        .await
        .unwrap()
        .expect("ada's row");
    assert_eq!(
        row.username, "ada",
        "the name is the token's, not the query's"
    );
}
