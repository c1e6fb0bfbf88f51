//! Who is who, against `wschat dev`: tokens, identity-provider JWTs, names
//! that pass for others, the ops marker, origins, and a sandbox only its
//! owner (holding its credentials) can drive.

use crate::harness::{management_client, run, wschat, Client, Dev};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wschat_lambdas::auth::token;

/// The handshake's HTTP status: 101 when the connection opened.
async fn handshake(url: &str, origin: Option<&str>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("handshake with {url}: {e}"),
    }
}

/// One raw HTTP/1.1 exchange with the sandbox: the status and the whole answer.
fn raw(port: u16, request: &str) -> (u16, String) {
    crate::harness::raw_http("127.0.0.1", port, request)
}

async fn local_token(dev: &Dev, user: &str) -> String {
    let mut cmd = wschat();
    cmd.args(["token", "--user", user, "--local", &dev.base()]);
    let out = run(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "the token alone on stdout: {}",
        out.stdout
    );
    out.stdout.trim().to_owned()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_takes_the_name_from_the_token_and_refuses_everything_else() {
    let dev = Dev::start(&["--auth", "token"]);
    let ada = local_token(&dev, "ada").await;

    // The token says ada; the query's username is ignored.
    let mut as_ada = Client::join(&dev.ws_url(&format!("token={ada}&username=bob"))).await;
    as_ada
        .send_json(json!({"action": "sendMessage", "message": "hi"}))
        .await;
    assert_eq!(
        as_ada.next_of_type("message").await["data"]["username"],
        "ada"
    );

    let audience = token::audience("wschat-dev");
    let forged = token::mint(
        b"not the secret",
        &audience,
        "ada",
        None,
        token::DEFAULT_TTL,
    )
    .unwrap();
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "ada", "aud": audience, "iat": now() - 7200, "exp": now() - 3600}),
        &EncodingKey::from_secret(b"irrelevant").unwrap(),
    )
    .unwrap();
    let other = Dev::start(&["--auth", "token", "--name", "other"]);
    let other_stacks = local_token(&other, "ada").await;
    for (what, query) in [
        ("no token", "username=ada".to_owned()),
        ("forged", format!("token={forged}")),
        ("expired", format!("token={expired}")),
        ("another stack's", format!("token={other_stacks}")),
        ("garbage", "token=abc.def.ghi".to_owned()),
    ] {
        assert_eq!(handshake(&dev.ws_url(&query), None).await, 401, "{what}");
    }

    // ada, on two connections, gets her direct messages on both; bob sees none of them.
    let mut ada_again = Client::join(&dev.ws_url(&format!("token={ada}&room=elsewhere"))).await;
    let bob = local_token(&dev, "bob").await;
    let mut bob = Client::join(&dev.ws_url(&format!("token={bob}"))).await;
    bob.send_json(json!({"action": "sendMessage", "message": "psst", "to": "ada"}))
        .await;
    for client in [&mut as_ada, &mut ada_again] {
        let dm = client.next_of_type("message").await;
        assert_eq!(
            (dm["data"]["username"].as_str(), dm["data"]["to"].as_str()),
            (Some("bob"), Some("ada"))
        );
    }
}

#[tokio::test]
async fn look_alike_names_are_refused_and_compatibility_forms_fold() {
    let dev = Dev::start(&[]);
    // Cyrillic а, then a Latin-looking name written wholly in Cyrillic.
    for name in ["%D0%B0da", "%D0%B0%D0%BE%D0%BE"] {
        assert_eq!(
            handshake(&dev.ws_url(&format!("username={name}")), None).await,
            400,
            "{name}"
        );
    }
    // Full-width ａｄａ is ada.
    let mut wide = Client::join(&dev.ws_url("username=%EF%BD%81%EF%BD%84%EF%BD%81")).await;
    wide.send_json(json!({"action": "sendMessage", "message": "hi"}))
        .await;
    assert_eq!(
        wide.next_of_type("message").await["data"]["username"],
        "ada"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_wschat_broadcast_carries_the_ops_marker() {
    let dev = Dev::start(&[]);
    let mut ops = Client::join(&dev.ws_url("username=ops")).await;
    ops.send_json(
        json!({"action": "sendMessage", "message": "fake", "ops": true, "data": {"ops": true}}),
    )
    .await;
    let forged = ops.next_of_type("message").await;
    assert_eq!(forged["data"]["message"], "fake");
    assert!(forged["data"].get("ops").is_none(), "{forged}");

    let mut cmd = wschat();
    cmd.args(["broadcast", "real", "--local", &dev.base()]);
    let out = run(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let real = ops.next_of_type("message").await;
    assert_eq!(
        (
            real["data"]["message"].as_str(),
            real["data"]["ops"].as_bool()
        ),
        (Some("real"), Some(true))
    );
}

#[tokio::test]
async fn browsers_from_other_origins_are_refused() {
    let dev = Dev::start(&["--allowed-origin", "https://chat.example"]);
    let url = dev.ws_url("username=ada");
    let own = format!("http://127.0.0.1:{}", dev.port);
    assert_eq!(handshake(&url, Some("http://evil.example")).await, 403);
    assert_eq!(handshake(&url, Some("https://chat.example")).await, 101);
    assert_eq!(
        handshake(&url, Some(&own)).await,
        101,
        "the sandbox's own page"
    );
    assert_eq!(handshake(&url, None).await, 101, "no Origin: not a browser");

    let plain = Dev::start(&[]);
    let url = plain.ws_url("username=ada");
    assert_eq!(
        handshake(&url, Some("http://evil.example")).await,
        403,
        "a web page elsewhere"
    );
    assert_eq!(
        handshake(&url, Some(&format!("http://localhost:{}", plain.port))).await,
        101
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_owner_drives_the_sandbox() {
    let dev = Dev::start(&[]);
    let mut ada = Client::join(&dev.ws_url("username=ada")).await;
    let port = dev.port;
    let stage = &dev.stage;

    // A page on another name for this machine (DNS rebinding) gets nothing.
    for path in ["/", &format!("/{stage}/@wschat/connections")] {
        let (status, _) = raw(
            port,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(status, 421, "{path}");
    }
    // Unsigned: API Gateway's own answer.
    let (status, answer) = raw(
        port,
        &format!("POST /{stage}/@connections/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"),
    );
    assert_eq!(status, 403);
    assert!(
        answer.contains("ForbiddenException") && answer.contains("Missing Authentication Token"),
        "{answer}"
    );
    let (status, _) = raw(port, &format!("GET /{stage}/@wschat/connections HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"));
    assert_eq!(status, 403, "the control endpoints too");

    // Signed with other credentials: refused by the real SDK client.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
            "ASBXWRONG",
            "wrong",
            None,
            None,
            "t",
        ))
        .load()
        .await;
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(format!("{}/{stage}", dev.base()))
        .build();
    let stranger = aws_sdk_apigatewaymanagement::Client::from_conf(config);
    let err = stranger
        .delete_connection()
        .connection_id("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));

    // With the sandbox's credentials, the same client works.
    let owner = management_client(&dev).await;
    let mut cmd = wschat();
    cmd.args(["connections", "--output", "json", "--local", &dev.base()]);
    let listed = run(cmd).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let rows: Value = serde_json::from_str(&listed.stdout).unwrap();
    let id = rows["connections"][0]["connection_id"]
        .as_str()
        .expect("ada's row")
        .to_owned();
    owner
        .post_to_connection()
        .connection_id(&id)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            r#"{"type":"note"}"#,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ada.next_of_type("note").await["type"], "note");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_mode_checks_the_issuers_signature_issuer_audience_and_time() {
    let fixtures = wschat_test_support::repo_root().join("tests/fixtures/jwt");
    let rsa = EncodingKey::from_rsa_der(&std::fs::read(fixtures.join("rsa-private.der")).unwrap());
    let ec = EncodingKey::from_ec_der(&std::fs::read(fixtures.join("ec-private.p8.der")).unwrap());
    let issuer = wschat_test_support::idp::identity_provider(&[
        ("rsa-1", Algorithm::RS256, &rsa),
        ("ec-1", Algorithm::ES256, &ec),
    ])
    .await;
    let dev = Dev::start(&[
        "--auth",
        "jwt",
        "--jwt-issuer",
        &issuer,
        "--jwt-audience",
        "chat-app",
        "--jwt-name-claim",
        "preferred_username",
    ]);
    let sign = |kid: &str, alg: Algorithm, key: &EncodingKey, claims: Value| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    let claims = |iss: &str, aud: &str, exp: u64| json!({"iss": iss, "aud": aud, "exp": exp, "nbf": now() - 10, "sub": "u-1", "preferred_username": "grace"});
    for (kid, alg, key) in [
        ("rsa-1", Algorithm::RS256, &rsa),
        ("ec-1", Algorithm::ES256, &ec),
    ] {
        let good = sign(kid, alg, key, claims(&issuer, "chat-app", now() + 600));
        let mut grace = Client::join(&dev.ws_url(&format!("token={good}&username=mallory"))).await;
        grace
            .send_json(json!({"action": "sendMessage", "message": "hi"}))
            .await;
        assert_eq!(
            grace.next_of_type("message").await["data"]["username"],
            "grace",
            "{alg:?}"
        );
    }
    let not_yet = sign(
        "rsa-1",
        Algorithm::RS256,
        &rsa,
        json!({"iss": issuer, "aud": "chat-app", "exp": now() + 600, "nbf": now() + 300, "preferred_username": "grace"}),
    );
    for (what, token) in [
        (
            "wrong audience",
            sign(
                "rsa-1",
                Algorithm::RS256,
                &rsa,
                claims(&issuer, "other-app", now() + 600),
            ),
        ),
        (
            "wrong issuer",
            sign(
                "rsa-1",
                Algorithm::RS256,
                &rsa,
                claims("https://evil.example", "chat-app", now() + 600),
            ),
        ),
        (
            "expired",
            sign(
                "ec-1",
                Algorithm::ES256,
                &ec,
                claims(&issuer, "chat-app", now() - 600),
            ),
        ),
        ("not yet valid", not_yet),
        (
            "unknown key",
            sign(
                "rsa-2",
                Algorithm::RS256,
                &rsa,
                claims(&issuer, "chat-app", now() + 600),
            ),
        ),
        (
            "HS256 with a guessable key",
            sign(
                "rsa-1",
                Algorithm::HS256,
                &EncodingKey::from_secret(b"x").unwrap(),
                claims(&issuer, "chat-app", now() + 600),
            ),
        ),
    ] {
        assert_eq!(
            handshake(&dev.ws_url(&format!("token={token}")), None).await,
            401,
            "{what}"
        );
    }
}

/// The connect function's variable, as deploy set it.
async fn connect_variable(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    key: &str,
) -> Option<String> {
    let config = lambda
        .get_function_configuration()
        .function_name(format!("{name}-dev-connect"))
        .send()
        .await
        .unwrap();
    config.environment?.variables?.get(key).cloned()
}

/// What the connect function does with a token: the same verifier, reading
/// the secret from SSM with the same signed call.
async fn connect_function_accepts(
    sdk: &aws_config::SdkConfig,
    name: &str,
    version: &str,
    token: &str,
) -> bool {
    use wschat_lambdas::auth::{ssm::SsmSecret, token::TokenVerifier, SecretSource};
    let secret = SsmSecret::new(
        sdk.clone(),
        &format!("/wschat/{name}/dev/token-secret"),
        Some(version),
    );
    let verifier = TokenVerifier::new(
        SecretSource::Ssm(Box::new(secret)),
        token::audience(&format!("{name}-dev")),
    );
    verifier.verify(token).await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_on_aws_keeps_its_secret_in_ssm_and_rotation_retires_old_tokens() {
    use crate::harness::{lambda_zips, wschat_aws};
    use wschat_test_support::moto::{unique, Moto};
    let moto = Moto::shared();
    let sdk = moto.sdk_config().await;
    let (lambda, iam) = (
        aws_sdk_lambda::Client::new(&sdk),
        aws_sdk_iam::Client::new(&sdk),
    );
    let ssm = wschat_lambdas::auth::ssm::client(sdk.clone(), std::time::Duration::from_secs(10));
    let name = unique("tok");
    let wschat = |args: &[&str]| {
        let mut cmd = wschat_aws(&moto.endpoint, &name);
        cmd.args(["--output", "json"]).args(args);
        run(cmd)
    };
    let zips = lambda_zips().to_str().unwrap().to_owned();
    let page = std::env::temp_dir().join(format!("{name}.html"));
    let deploy = [
        "deploy",
        "--auth",
        "token",
        "--prebuilt",
        &zips,
        "--web-client",
        page.to_str().unwrap(),
    ];
    let out = wschat(&deploy).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains("token-secret\":\"")
            && std::fs::read_to_string(&page)
                .unwrap()
                .contains("\"token\"")
    );

    let status = wschat(&["status", "--auth", "token"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert_eq!(status.json()["auth"]["mode"], "token");

    // The role reads this one parameter, and nothing is granted on `*`.
    let policy = iam
        .get_role_policy()
        .role_name(format!("{name}-dev-lambda"))
        .policy_name(format!("{name}-dev-access"))
        .send()
        .await
        .unwrap();
    let policy = percent_encoding::percent_decode_str(&policy.policy_document)
        .decode_utf8_lossy()
        .into_owned();
    let parameter_arn =
        format!("arn:aws:ssm:us-east-1:123456789012:parameter/wschat/{name}/dev/token-secret");
    assert!(
        policy.contains(&parameter_arn) && policy.contains("ssm:GetParameter"),
        "{policy}"
    );
    assert!(
        !policy.contains("\"*\"") && !policy.contains("ssm:*"),
        "{policy}"
    );

    let minted = wschat(&["token", "--user", "ada"]).await;
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let old_token = minted.stdout.trim().to_owned();
    let version = connect_variable(&lambda, &name, "WSCHAT_TOKEN_PARAMETER_VERSION")
        .await
        .expect("the version is pinned");
    assert!(connect_function_accepts(&sdk, &name, &version, &old_token).await);

    let rotated = wschat(&[&deploy[..], &["--rotate-secret"]].concat()).await;
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new_version = connect_variable(&lambda, &name, "WSCHAT_TOKEN_PARAMETER_VERSION")
        .await
        .unwrap();
    assert_ne!(
        new_version, version,
        "the rotation reaches the function, retiring warm containers"
    );
    assert!(
        !connect_function_accepts(&sdk, &name, &new_version, &old_token).await,
        "old tokens are refused"
    );
    let fresh = wschat(&["token", "--user", "ada"])
        .await
        .stdout
        .trim()
        .to_owned();
    assert!(connect_function_accepts(&sdk, &name, &new_version, &fresh).await);

    let down = wschat(&["teardown", "--yes"]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    let input = json!({"Name": format!("/wschat/{name}/dev/token-secret")});
    let gone = ssm.call("GetParameter", &input).await;
    assert!(
        gone.is_err_and(|e| e.code == "ParameterNotFound"),
        "teardown deletes the secret"
    );
}
