//! What AWS does that moto does not, played by the proxy in front of moto,
//! so the tests meet AWS's behaviour; and a fault injector on top.
//!
//! - IAM propagation: Lambda cannot assume a role younger than
//!   [`Realism::iam_propagation`] (400 InvalidParameterValueException).
//! - Lambda: a function is `Pending` after its create and `InProgress` after an
//!   update for [`Realism::lambda_settle`]; another update meanwhile gets 409
//!   ResourceConflictException.
//! - API Gateway's control plane answers 429 TooManyRequestsException above
//!   [`Realism::apigw_per_second`].
//! - DynamoDB: a table stays CREATING (its indexes too) for
//!   [`Realism::table_settle`]; updates meanwhile get ResourceInUseException.
//! - Lambda's Invoke runs the test's own bootstraps ([`crate::invoke`]).
//! - CloudWatch's percentiles and EMF extraction, and Service Quotas'
//!   values for API Gateway and Lambda ([`crate::metrics`]).
//! - [`Faults`]: a share of requests gets a 500/503, the service's own
//!   throttling error, a dropped connection, a lost reply (applied, never
//!   answered) or a stall (never applied, never answered).
//!
//! Errors are in each service's wire format, as the SDK parses them.

use axum::body::Body;
use axum::response::Response;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Realism {
    pub iam_propagation: Duration,
    pub lambda_settle: Duration,
    pub apigw_per_second: usize,
    pub table_settle: Duration,
}

impl Default for Realism {
    /// Short windows, so the tests meet each behaviour without waiting long.
    fn default() -> Self {
        Realism {
            iam_propagation: Duration::from_secs(3),
            lambda_settle: Duration::from_millis(1500),
            apigw_per_second: 10,
            table_settle: Duration::from_secs(2),
        }
    }
}

/// What a request meets, chosen before it is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A 500 or a 503.
    ServerError(u16),
    Throttled,
    /// The connection drops before the request reaches the service.
    Reset,
    /// Applied by the service; the reply never arrives.
    LostReply,
    /// Never applied, never answered.
    Stall,
}

/// Which requests meet a fault: drawn from a seeded generator, so a run that
/// failed can be run again with the same draws (`WSCHAT_TEST_SEED`).
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of requests that meet a fault, 0.0 to 1.0.
    pub rate: f64,
    pub seed: u64,
    rng: fastrand::Rng,
}

/// The seed of a randomised test: `WSCHAT_TEST_SEED` when set, else a fresh
/// one. Printed either way (the test harness shows it when the test fails),
/// with the line that runs the test again with it.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("WSCHAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!(
        "{test}: faults seeded with {seed}; set WSCHAT_TEST_SEED={seed} to draw the same again"
    );
    seed
}

impl Faults {
    /// A share `rate` of requests faulty, drawn from `seed`.
    pub fn new(rate: f64, seed: u64) -> Self {
        Faults {
            rate,
            seed,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn pick(&mut self) -> Option<Fault> {
        if self.rng.f64() >= self.rate {
            return None;
        }
        Some(match self.rng.u8(0..5) {
            0 => Fault::ServerError(if self.rng.bool() { 500 } else { 503 }),
            1 => Fault::Throttled,
            2 => Fault::Reset,
            3 => Fault::LostReply,
            _ => Fault::Stall,
        })
    }
}

/// One request as the realism layer sees it.
pub struct Request<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

impl Request<'_> {
    fn json(&self) -> Value {
        serde_json::from_slice(self.body).unwrap_or(Value::Null)
    }

    fn form(&self, key: &str) -> Option<String> {
        String::from_utf8_lossy(self.body)
            .split('&')
            .find_map(|kv| {
                let value = kv.strip_prefix(key)?.strip_prefix('=')?;
                Some(crate::form_decode(value))
            })
    }

    /// `/2015-03-31/functions/{name}[/...]`: the function and what follows.
    fn lambda_function(&self) -> Option<(String, &str)> {
        let rest = self.path.strip_prefix("/2015-03-31/functions/")?;
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        Some((crate::percent_decode(name), tail))
    }
}

/// An error in the service's own wire format.
pub fn service_error(service: &str, status: u16, code: &str, message: &str) -> Response {
    let builder = Response::builder().status(status);
    match service {
        "iam" | "sts" | "sns" => builder.header("content-type", "text/xml").body(Body::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        ))),
        "dynamodb" => builder
            .header("content-type", "application/x-amz-json-1.0")
            .body(Body::from(
                serde_json::json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message}).to_string(),
            )),
        "logs" | "ssm" | "servicequotas" => builder
            .header("content-type", "application/x-amz-json-1.1")
            .body(Body::from(serde_json::json!({"__type": code, "message": message}).to_string())),
        // JSON 1.0, compatible with its query protocol's codes.
        "monitoring" => builder
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-query-error", format!("{code};Sender"))
            .body(Body::from(serde_json::json!({"__type": code, "message": message}).to_string())),
        // REST JSON: Lambda, API Gateway.
        _ => builder
            .header("content-type", "application/json")
            .header("x-amzn-errortype", code)
            .body(Body::from(serde_json::json!({"Type": "User", "message": message}).to_string())),
    }
    .expect("a valid response")
}

/// A body that fails at once: hyper cuts the connection after the status
/// line, and the client sees the connection drop mid-answer.
struct Broken;

impl http_body::Body for Broken {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset");
        std::task::Poll::Ready(Some(Err(reset)))
    }
}

/// The connection drops before an answer arrives; nothing was applied.
pub fn connection_reset() -> Response {
    Response::builder()
        .status(200)
        .header("content-length", "1024")
        .body(Body::new(Broken))
        .expect("a valid response")
}

/// `@connections` as API Gateway answers it: 410 GoneException for a
/// connection that is gone; else 200 (GET describes it, POST delivered) or 204 (DELETE).
pub fn management_answer(method: &str, gone: bool) -> Response {
    if gone {
        return service_error("apigateway", 410, "GoneException", "");
    }
    let builder = Response::builder().header("content-type", "application/json");
    match method {
        "GET" => builder.status(200).body(Body::from(
            r#"{"connectedAt":"2026-11-23T00:00:00.000Z","identity":{"sourceIp":"127.0.0.1"},"lastActiveAt":"2026-11-23T00:00:00.000Z"}"#,
        )),
        "DELETE" => builder.status(204).body(Body::empty()),
        _ => builder.status(200).body(Body::empty()),
    }
    .expect("a valid response")
}

/// The throttling error each service sends.
pub fn throttled(service: &str) -> Response {
    match service {
        "iam" | "sts" | "sns" | "monitoring" => {
            service_error(service, 400, "Throttling", "Rate exceeded")
        }
        "servicequotas" => service_error(service, 400, "TooManyRequestsException", "Rate exceeded"),
        "lambda" => service_error(service, 429, "TooManyRequestsException", "Rate exceeded"),
        "apigateway" | "execute-api" => service_error(
            service,
            429,
            "TooManyRequestsException",
            "Too Many Requests",
        ),
        // SSM's front door throttles with a 429 and the code in a header only.
        "ssm" => Response::builder()
            .status(429)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-errortype", "TooManyRequestsException")
            .body(Body::from(r#"{"message":"Too Many Requests"}"#))
            .expect("a valid response"),
        _ => service_error(service, 400, "ThrottlingException", "Rate exceeded"),
    }
}

/// The state that makes moto behave like AWS.
#[derive(Default)]
pub struct World {
    pub realism: Option<Realism>,
    roles: HashMap<String, Instant>,
    /// Function name → until when it is busy, and its State meanwhile
    /// (`Pending` after a create, `Active` after an update; the update is `InProgress`).
    functions: HashMap<String, (Instant, &'static str)>,
    tables: HashMap<String, Instant>,
    apigw_calls: VecDeque<Instant>,
}

impl World {
    /// A refusal AWS would send instead of applying the request.
    pub fn refuse(&mut self, request: &Request<'_>) -> Option<Response> {
        let realism = self.realism.clone()?;
        let now = Instant::now();
        if request.service == "apigateway" {
            while self
                .apigw_calls
                .front()
                .is_some_and(|t| now - *t > Duration::from_secs(1))
            {
                self.apigw_calls.pop_front();
            }
            if self.apigw_calls.len() >= realism.apigw_per_second {
                return Some(throttled("apigateway"));
            }
            self.apigw_calls.push_back(now);
        }
        if request.service == "lambda" {
            let role_too_young = || {
                let role = request.json()["Role"]
                    .as_str()?
                    .rsplit('/')
                    .next()?
                    .to_owned();
                let born = self.roles.get(&role)?;
                (now - *born < realism.iam_propagation).then_some(())
            };
            let creates = request.method == "POST" && request.path == "/2015-03-31/functions";
            if let Some((name, tail)) = request.lambda_function() {
                let updates =
                    request.method == "PUT" && (tail == "code" || tail == "configuration");
                if updates
                    && self
                        .functions
                        .get(&name)
                        .is_some_and(|(until, _)| now < *until)
                {
                    return Some(service_error(
                        "lambda",
                        409,
                        "ResourceConflictException",
                        &format!("The operation cannot be performed at this time. An update is in progress for resource: {name}"),
                    ));
                }
                if updates && tail == "configuration" && role_too_young().is_some() {
                    return Some(cannot_assume());
                }
            }
            if creates && role_too_young().is_some() {
                return Some(cannot_assume());
            }
        }
        if request.service == "dynamodb"
            && matches!(request.operation, "UpdateTable" | "UpdateTimeToLive")
        {
            let table = request.json()["TableName"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if self.tables.get(&table).is_some_and(|until| now < *until) {
                return Some(service_error(
                    "dynamodb",
                    400,
                    "ResourceInUseException",
                    &format!("Attempt to change a resource which is still in use: Table is being created: {table}"),
                ));
            }
        }
        None
    }

    /// Records what a successful request started, and rewrites answers to
    /// show the states moto skips.
    pub fn answered(&mut self, request: &Request<'_>, status: u16, body: &mut Vec<u8>) {
        let Some(realism) = self.realism.clone() else {
            return;
        };
        if !(200..300).contains(&status) {
            return;
        }
        let now = Instant::now();
        match (request.service, request.operation) {
            ("iam", "CreateRole") => {
                if let Some(role) = request.form("RoleName") {
                    self.roles.insert(role, now);
                }
            }
            ("dynamodb", "CreateTable") => {
                let table = request.json()["TableName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.tables.insert(table, now + realism.table_settle);
                rewrite(body, |v| {
                    set_table_status(&mut v["TableDescription"], "CREATING")
                });
            }
            ("dynamodb", "DescribeTable") => {
                let table = request.json()["TableName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if self.tables.get(&table).is_some_and(|until| now < *until) {
                    rewrite(body, |v| set_table_status(&mut v["Table"], "CREATING"));
                }
            }
            ("lambda", _) => {
                let creates = request.method == "POST" && request.path == "/2015-03-31/functions";
                let function = request.lambda_function();
                let updates = request.method == "PUT"
                    && function
                        .as_ref()
                        .is_some_and(|(_, tail)| *tail == "code" || *tail == "configuration");
                if creates {
                    let name = request.json()["FunctionName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    self.functions
                        .insert(name, (now + realism.lambda_settle, "Pending"));
                    rewrite(body, |v| set_function_state(v, "Pending", "InProgress"));
                } else if let (true, Some((name, _))) = (updates, &function) {
                    self.functions
                        .insert(name.clone(), (now + realism.lambda_settle, "Active"));
                    rewrite(body, |v| set_function_state(v, "Active", "InProgress"));
                } else if let (Some((name, _)), "GET") = (&function, request.method) {
                    if let Some((_, state)) =
                        self.functions.get(name).filter(|(until, _)| now < *until)
                    {
                        rewrite(body, |v| {
                            let config = if v.get("Configuration").is_some() {
                                &mut v["Configuration"]
                            } else {
                                v
                            };
                            set_function_state(config, state, "InProgress");
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

fn cannot_assume() -> Response {
    service_error(
        "lambda",
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    )
}

fn rewrite(body: &mut Vec<u8>, change: impl FnOnce(&mut Value)) {
    if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
        change(&mut value);
        *body = value.to_string().into_bytes();
    }
}

fn set_table_status(table: &mut Value, status: &str) {
    if !table.is_object() {
        return;
    }
    table["TableStatus"] = status.into();
    if let Some(indexes) = table
        .get_mut("GlobalSecondaryIndexes")
        .and_then(Value::as_array_mut)
    {
        for index in indexes {
            index["IndexStatus"] = status.into();
        }
    }
}

fn set_function_state(config: &mut Value, state: &str, update: &str) {
    if config.is_object() {
        config["State"] = state.into();
        config["LastUpdateStatus"] = update.into();
    }
}
