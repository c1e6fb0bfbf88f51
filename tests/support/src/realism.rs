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
//! - ACM: a DNS-validated certificate names its validation record only
//!   [`Realism::acm_record_after`] its request, and is issued
//!   [`Realism::acm_validation`] after that record is published (written to
//!   a Route 53 zone through the proxy, or at "the user's DNS provider":
//!   [`crate::proxy::Proxy::publish_dns`]); never before (moto issues every
//!   certificate after 60 s, records or not). API Gateway refuses a domain
//!   name whose certificate is not issued, and keeps a deleted domain name's
//!   certificate in use for [`Realism::certificate_release`].
//! - API Gateway's regional domain names have their target
//!   (`d-….execute-api.{region}.amazonaws.com`) and its hosted zone.
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
    pub acm_record_after: Duration,
    pub acm_validation: Duration,
    pub certificate_release: Duration,
}

impl Default for Realism {
    /// Short windows, so the tests meet each behaviour without waiting long.
    fn default() -> Self {
        Realism {
            iam_propagation: Duration::from_secs(3),
            lambda_settle: Duration::from_millis(1500),
            apigw_per_second: 10,
            table_settle: Duration::from_secs(2),
            acm_record_after: Duration::from_secs(1),
            acm_validation: Duration::from_secs(2),
            certificate_release: Duration::from_secs(2),
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
        "iam" | "sts" | "sns" | "route53" => builder.header("content-type", "text/xml").body(Body::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        ))),
        "dynamodb" => builder
            .header("content-type", "application/x-amz-json-1.0")
            .body(Body::from(
                serde_json::json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message}).to_string(),
            )),
        "logs" | "ssm" | "servicequotas" | "acm" => builder
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
        "iam" | "sts" | "sns" | "monitoring" | "route53" => {
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
    /// Certificate ARN → when it was requested, and its validation records' names.
    certificates: HashMap<String, (Instant, Vec<String>)>,
    /// DNS names that resolve (lower case, no trailing dot) → since when.
    published: HashMap<String, Instant>,
    /// Domain name → its certificate.
    domain_names: HashMap<String, String>,
    /// Certificate ARN → until when a deleted domain name still holds it.
    released: HashMap<String, Instant>,
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
        if request.service == "apigateway" && request.operation == "POST /v2/domainnames" {
            let body = request.json();
            let configs = body["domainNameConfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for arn in configs.iter().filter_map(|c| c["certificateArn"].as_str()) {
                if self.certificate_status(arn, &realism, now) == Some(PENDING) {
                    return Some(service_error(
                        "apigateway",
                        400,
                        "BadRequestException",
                        &format!("Certificate {arn} in account 123456789012 not yet issued"),
                    ));
                }
            }
        }
        if request.service == "acm" && request.operation == "DeleteCertificate" {
            let arn = request.json()["CertificateArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let held = self.domain_names.values().any(|c| *c == arn)
                || self.released.get(&arn).is_some_and(|until| now < *until);
            if held {
                return Some(service_error(
                    "acm",
                    400,
                    "ResourceInUseException",
                    &format!("Certificate {arn} is in use."),
                ));
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
            ("acm", "RequestCertificate") => {
                let answer: Value = serde_json::from_slice(body).unwrap_or_default();
                if let Some(arn) = answer["CertificateArn"].as_str() {
                    self.certificates
                        .entry(arn.to_owned())
                        .or_insert((now, vec![]));
                }
            }
            ("acm", "DescribeCertificate") => {
                let arn = request.json()["CertificateArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some((requested, _)) = self.certificates.get(&arn).cloned() {
                    let named = now - requested >= realism.acm_record_after;
                    let mut answer: Value = serde_json::from_slice(body).unwrap_or_default();
                    let names: Vec<String> = answer["Certificate"]["DomainValidationOptions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o["ResourceRecord"]["Name"].as_str().map(dns_name))
                        .collect();
                    self.certificates
                        .insert(arn.clone(), (requested, names.clone()));
                    let issued = named && self.validated(&names, &realism, now);
                    let status = if issued { "ISSUED" } else { PENDING };
                    let cert = &mut answer["Certificate"];
                    cert["Status"] = status.into();
                    for option in cert["DomainValidationOptions"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                    {
                        option["ValidationStatus"] =
                            if issued { "SUCCESS" } else { PENDING }.into();
                        if !named {
                            option.as_object_mut().map(|o| o.remove("ResourceRecord"));
                        }
                    }
                    *body = answer.to_string().into_bytes();
                }
            }
            ("route53", operation)
                if operation.starts_with("POST ") && operation.ends_with("/rrset/") =>
            {
                let text = String::from_utf8_lossy(request.body);
                for change in text.split("<Change>").skip(1) {
                    let name = element(change, "Name").map(dns_name);
                    match (element(change, "Action"), name) {
                        (Some("DELETE"), Some(name)) => {
                            self.published.remove(&name);
                        }
                        (Some(_), Some(name)) => {
                            self.published.entry(name).or_insert(now);
                        }
                        _ => {}
                    }
                }
            }
            ("apigateway", operation)
                if operation.starts_with("POST /v2/domainnames")
                    || operation.starts_with("GET /v2/domainnames")
                    || operation.starts_with("PATCH /v2/domainnames") =>
            {
                if operation == "POST /v2/domainnames" {
                    let body = request.json();
                    let name = body["domainName"].as_str().unwrap_or_default().to_owned();
                    let cert = body["domainNameConfigurations"][0]["certificateArn"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    self.domain_names.insert(name, cert);
                }
                if !operation.contains("/apimappings") {
                    rewrite(body, regional_targets);
                }
            }
            ("apigateway", operation)
                if operation.starts_with("DELETE /v2/domainnames/")
                    && !operation.contains("/apimappings") =>
            {
                let name =
                    crate::percent_decode(operation.trim_start_matches("DELETE /v2/domainnames/"));
                if let Some(cert) = self.domain_names.remove(&name) {
                    self.released
                        .insert(cert, now + realism.certificate_release);
                }
            }
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

const PENDING: &str = "PENDING_VALIDATION";

/// The text of the first `<tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}

/// A DNS name as compared: lower case, no trailing dot.
fn dns_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl World {
    /// A name now resolves: the user added it at their DNS provider.
    pub fn publish(&mut self, name: &str) {
        self.published
            .entry(dns_name(name))
            .or_insert_with(Instant::now);
    }

    /// Whether every validation record has resolved for long enough.
    fn validated(&self, names: &[String], realism: &Realism, now: Instant) -> bool {
        !names.is_empty()
            && names.iter().all(|n| {
                self.published
                    .get(n)
                    .is_some_and(|since| now - *since >= realism.acm_validation)
            })
    }

    /// A requested certificate's status as ACM would say it now; `None` for
    /// one the proxy did not see requested (imported: issued).
    fn certificate_status(
        &self,
        arn: &str,
        realism: &Realism,
        now: Instant,
    ) -> Option<&'static str> {
        let (requested, names) = self.certificates.get(arn)?;
        let issued =
            now - *requested >= realism.acm_record_after && self.validated(names, realism, now);
        Some(if issued { "ISSUED" } else { PENDING })
    }
}

/// API Gateway's answer for a regional domain name carries where DNS points.
fn regional_targets(answer: &mut Value) {
    fn fill(domain: &mut Value) {
        let name = domain["domainName"].as_str().unwrap_or_default().to_owned();
        let region = domain["domainNameArn"]
            .as_str()
            .and_then(|arn| arn.split(':').nth(3))
            .unwrap_or("us-east-1")
            .to_owned();
        let id: String = name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            .to_string()
            .chars()
            .take(10)
            .collect();
        for config in domain["domainNameConfigurations"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            config["apiGatewayDomainName"] =
                format!("d-{id}.execute-api.{region}.amazonaws.com").into();
            config["hostedZoneId"] = "Z1UJRXOUMOOFQ8".into();
            config["domainNameStatus"] = "AVAILABLE".into();
        }
    }
    match answer.get_mut("items").and_then(Value::as_array_mut) {
        Some(items) => items.iter_mut().for_each(fill),
        None => fill(answer),
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
