//! What identity costs: one token verification in each algorithm, and the
//! connect function's init and first invocation in each auth mode (token mode
//! reads its secret from SSM in moto; jwt mode fetches an issuer's keys from
//! a local server), from the same `bootstrap` that goes into the zips.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wschat_lambdas::auth::token::{self, TokenVerifier};
use wschat_lambdas::auth::SecretSource;
use wschat_test_support::bench as report;
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::runtime_api::RuntimeApi;

const VERIFICATIONS: u32 = 20_000;
const COLD_STARTS: usize = 15;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn main() {
    if !report::benchmarking() {
        return;
    }
    let root = wschat_test_support::repo_root();
    let fixtures = root.join("tests/fixtures/jwt");
    let rsa = EncodingKey::from_rsa_der(&std::fs::read(fixtures.join("rsa-private.der")).unwrap());
    let ec = EncodingKey::from_ec_der(&std::fs::read(fixtures.join("ec-private.p8.der")).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();

    println!("| verification | per token |\n|---|---|");
    let mut verifications = serde_json::Map::new();
    let hs = runtime.block_on(async {
        let verifier = TokenVerifier::new(
            SecretSource::Fixed(b"secret".to_vec()),
            "wschat:b-dev".into(),
        );
        let t = token::mint(b"secret", "wschat:b-dev", "ada", None, token::DEFAULT_TTL).unwrap();
        verifier.verify(&t).await.unwrap();
        let started = Instant::now();
        for _ in 0..VERIFICATIONS {
            verifier.verify(&t).await.unwrap();
        }
        started.elapsed() / VERIFICATIONS
    });
    verifications.insert("HS256 (token mode)".into(), json!(hs.as_secs_f64() * 1e6));
    println!(
        "| HS256 (token mode, with the name checks) | {:.1} µs |",
        hs.as_secs_f64() * 1e6
    );
    for (alg, key) in [(Algorithm::RS256, &rsa), (Algorithm::ES256, &ec)] {
        let claims =
            json!({"iss": "i", "aud": "a", "exp": now() + 3600, "preferred_username": "ada"});
        let t = jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap();
        let jwk = Jwk::from_encoding_key(key, alg).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_issuer(&["i"]);
        validation.set_audience(&["a"]);
        let started = Instant::now();
        for _ in 0..VERIFICATIONS {
            jsonwebtoken::decode::<Value>(&t, &decoding, &validation).unwrap();
        }
        let each = started.elapsed() / VERIFICATIONS;
        verifications.insert(
            format!("{alg:?} (jwt mode)"),
            json!(each.as_secs_f64() * 1e6),
        );
        println!(
            "| {alg:?} (jwt mode, key cached) | {:.1} µs |",
            each.as_secs_f64() * 1e6
        );
    }

    // `wschat package` builds the bootstrap the zips hold.
    report::package_zips(env!("CARGO_BIN_EXE_wschat"));
    let binary = root.join("target/lambda/bootstrap");
    let modes = runtime.block_on(cold_starts(&binary, &rsa));
    report::write(
        "identity",
        &json!({ "verification_us": verifications, "verifications": VERIFICATIONS, "connect_cold_starts": modes }),
    );
}

/// An auth mode: its name, the connect function's variables, a token for it.
type Mode<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);

/// Process start to first poll, then the first and a second `$connect`.
async fn cold_starts(binary: &std::path::Path, rsa: &EncodingKey) -> Value {
    let moto = Moto::shared();
    let sdk = moto.sdk_config().await;
    let table = unique("bench-identity");
    wschat::stack::table::create(
        &aws_sdk_dynamodb::Client::new(&sdk),
        wschat::stack::table::Table::Connections,
        &table,
        Default::default(),
    )
    .await
    .unwrap();
    let name = unique("benchtok");
    let parameter = format!("/wschat/{name}/dev/token-secret");
    let ssm = wschat_lambdas::auth::ssm::client(sdk.clone(), Duration::from_secs(10));
    let input = json!({"Name": parameter, "Value": "bench-secret", "Type": "SecureString"});
    let version = ssm.call("PutParameter", &input).await.unwrap()["Version"].to_string();
    let audience = token::audience(&format!("{name}-dev"));
    let issuer =
        wschat_test_support::idp::identity_provider(&[("k1", Algorithm::RS256, rsa)]).await;
    let version_env = version.as_str();
    let modes: [Mode<'_>; 3] = [
        ("open", vec![], String::new()),
        (
            "token",
            vec![
                ("WSCHAT_AUTH", "token"),
                ("WSCHAT_TOKEN_PARAMETER", parameter.as_str()),
                ("WSCHAT_TOKEN_PARAMETER_VERSION", version_env),
                ("WSCHAT_TOKEN_AUDIENCE", audience.as_str()),
            ],
            token::mint(b"bench-secret", &audience, "ada", None, token::DEFAULT_TTL).unwrap(),
        ),
        (
            "jwt",
            vec![
                ("WSCHAT_AUTH", "jwt"),
                ("WSCHAT_JWT_ISSUER", issuer.as_str()),
                ("WSCHAT_JWT_AUDIENCE", "bench"),
                ("WSCHAT_JWT_NAME_CLAIM", "preferred_username"),
            ],
            {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some("k1".into());
                let claims = json!({"iss": issuer, "aud": "bench", "exp": now() + 3600, "preferred_username": "ada"});
                jsonwebtoken::encode(&header, &claims, rsa).unwrap()
            },
        ),
    ];
    println!("\n| mode | init p50 | first $connect p50 | warm $connect p50 |\n|---|---|---|---|");
    let mut rows = Vec::new();
    for (mode, env, token) in &modes {
        let (mut inits, mut firsts, mut warms) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..COLD_STARTS {
            let api = RuntimeApi::start().await;
            let started = Instant::now();
            let mut child = Command::new(binary)
                .envs(api.lambda_env("bench-connect"))
                .env("AWS_ENDPOINT_URL", &moto.endpoint)
                .env("TABLE_NAME", &table)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let first_poll = api.wait_first_poll(mode).await;
            inits.push(first_poll - started);
            for (i, timings) in [&mut firsts, &mut warms].into_iter().enumerate() {
                // A room of its own, so no connect tells earlier (never
                // disconnected) connections, and every mode meets the same work.
                let room = format!("r{run}c{i}{mode}");
                let event = connect_event(
                    &api.addr.to_string(),
                    &format!("R{run}C{i}{mode}="),
                    &room,
                    token,
                );
                let t = Instant::now();
                let answer = api.invoke(event).await.unwrap();
                timings.push(t.elapsed());
                assert_eq!(answer["statusCode"], 200, "{mode}: {answer}");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for v in [&mut inits, &mut firsts, &mut warms] {
            v.sort();
        }
        let p50 = |v: &Vec<Duration>| report::ms(report::percentile(v, 50.0));
        println!(
            "| {mode} | {} ms | {} ms | {} ms |",
            p50(&inits),
            p50(&firsts),
            p50(&warms)
        );
        rows.push(json!({"mode": mode, "runs": COLD_STARTS, "init_ms_p50": p50(&inits), "first_connect_ms_p50": p50(&firsts), "warm_connect_ms_p50": p50(&warms)}));
    }
    Value::Array(rows)
}

fn connect_event(domain: &str, id: &str, room: &str, token: &str) -> Value {
    let path = wschat_test_support::repo_root().join("tests/fixtures/connect.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("DOMAIN", domain)
        .replace("CONNECTION", id);
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["queryStringParameters"] = if token.is_empty() {
        json!({"username": "ada", "room": room})
    } else {
        json!({"token": token, "room": room})
    };
    event
}
