//! AWS's own API models, checked against every request the tests send.
//!
//! moto accepts much that AWS refuses: a name too long, a value outside an
//! enum, a required member left out. botocore (installed with moto) ships
//! each service's published model (`service-2.json`): members, required
//! members, lengths, patterns, enums and ranges. The front of the tests'
//! moto ([`crate::moto`]) reads each request as its protocol lays it out
//! (awsJson body, query form, REST path, query string, headers and body),
//! checks it against the operation's input shape, and answers a violation
//! as AWS would: 400 `ValidationException`, naming each broken constraint.
//!
//! A value must match a pattern whole, as AWS's validation answers ("Member
//! must satisfy regular expression pattern"). A pattern the regex engine
//! cannot read is skipped and counted.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// One request as the front saw it.
pub struct Request<'a> {
    /// The SigV4 signing name: `lambda`, `apigateway`, `execute-api`, ...
    pub signing_name: &'a str,
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a axum::http::HeaderMap,
    pub body: &'a [u8],
}

/// What the check found.
#[derive(Debug)]
pub enum Checked {
    /// A service or operation the models do not describe: nothing to check.
    Unmodelled,
    Valid {
        operation: String,
    },
    Invalid {
        operation: String,
        problems: Vec<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Json,
    Query,
    RestJson,
}

struct Operation {
    name: String,
    method: String,
    /// The request URI's path template, split on `/`.
    template: Vec<String>,
    input: Option<String>,
}

struct Service {
    protocol: Protocol,
    operations: Vec<Operation>,
    shapes: Map<String, Value>,
}

/// The model directory botocore keeps for a signing name.
fn model_name(signing_name: &str) -> Option<&'static str> {
    Some(match signing_name {
        "dynamodb" => "dynamodb",
        "iam" => "iam",
        "lambda" => "lambda",
        // wschat uses API Gateway's v2 API only; it signs as `apigateway`.
        "apigateway" => "apigatewayv2",
        "logs" => "logs",
        "sts" => "sts",
        "ssm" => "ssm",
        "execute-api" => "apigatewaymanagementapi",
        "acm" => "acm",
        _ => return None,
    })
}

/// botocore's data directory in the project's `.venv`.
fn botocore_data() -> Option<PathBuf> {
    let lib = crate::repo_root().join(".venv/lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/botocore/data"))
        .find(|p| p.is_dir())
}

fn read_model(dir: &Path) -> Option<Value> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    let latest = versions.last()?;
    let gz = latest.join("service-2.json.gz");
    let text = if gz.exists() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(gz).ok()?)
            .read_to_string(&mut text)
            .ok()?;
        text
    } else {
        std::fs::read_to_string(latest.join("service-2.json")).ok()?
    };
    serde_json::from_str(&text).ok()
}

fn load(model: &str) -> Option<Service> {
    let value = read_model(&botocore_data()?.join(model))?;
    let protocol = match value["metadata"]["protocol"].as_str()? {
        "json" => Protocol::Json,
        "query" => Protocol::Query,
        "rest-json" => Protocol::RestJson,
        _ => return None,
    };
    let operations = value["operations"]
        .as_object()?
        .values()
        .map(|op| {
            let uri = op["http"]["requestUri"].as_str().unwrap_or("/");
            let path = uri.split('?').next().unwrap_or("/");
            Operation {
                name: op["name"].as_str().unwrap_or_default().to_owned(),
                method: op["http"]["method"].as_str().unwrap_or("POST").to_owned(),
                template: path.split('/').map(str::to_owned).collect(),
                input: op["input"]["shape"].as_str().map(str::to_owned),
            }
        })
        .collect();
    Some(Service {
        protocol,
        operations,
        shapes: value["shapes"].as_object()?.clone(),
    })
}

/// Models read so far, by botocore's name (`None`: not installed or not readable).
type Loaded = HashMap<&'static str, Option<Arc<Service>>>;

/// Each service's model, read once per test process.
fn service(model: &'static str) -> Option<Arc<Service>> {
    static SERVICES: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let mut services = SERVICES.get_or_init(Mutex::default).lock().unwrap();
    services
        .entry(model)
        .or_insert_with(|| load(model).map(Arc::new))
        .clone()
}

/// Checks one request against its operation's model.
pub fn check(request: &Request<'_>) -> Checked {
    let Some(service) = model_name(request.signing_name).and_then(service) else {
        return Checked::Unmodelled;
    };
    let found = match service.protocol {
        Protocol::Json => json_request(&service, request),
        Protocol::Query => query_request(&service, request),
        Protocol::RestJson => rest_request(&service, request),
    };
    let Some((operation, input)) = found else {
        return Checked::Unmodelled;
    };
    let mut problems = Vec::new();
    if let Some(shape) = &operation.input {
        let mut checker = Checker {
            shapes: &service.shapes,
            problems: &mut problems,
        };
        checker.value(&input, shape, "");
    }
    record(request.signing_name, &operation.name, &problems);
    if problems.is_empty() {
        Checked::Valid {
            operation: operation.name.clone(),
        }
    } else {
        Checked::Invalid {
            operation: operation.name.clone(),
            problems,
        }
    }
}

/// AWS's answer to a request that breaks its model: 400 and every broken
/// constraint, in the service's own error format (also on stderr, shown
/// with a failing test). `None` for a request the model allows.
pub fn refusal(service: &str, checked: Checked) -> Option<axum::response::Response> {
    let Checked::Invalid {
        operation,
        problems,
    } = checked
    else {
        return None;
    };
    let message = format!(
        "{} validation error(s) against the AWS model of {operation}: {}",
        problems.len(),
        problems.join("; ")
    );
    eprintln!("model check: {service} {message}");
    let code = if service == "iam" || service == "sts" {
        "ValidationError"
    } else {
        "ValidationException"
    };
    Some(crate::realism::service_error(service, 400, code, &message))
}

/// awsJson: `X-Amz-Target: Prefix.Operation`, the input is the body.
fn json_request<'s>(service: &'s Service, request: &Request<'_>) -> Option<(&'s Operation, Value)> {
    let target = request.headers.get("x-amz-target")?.to_str().ok()?;
    let name = target.rsplit('.').next()?;
    let operation = service.operations.iter().find(|o| o.name == name)?;
    let input = serde_json::from_slice(request.body).unwrap_or(Value::Object(Map::new()));
    Some((operation, input))
}

fn pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::form_decode(k), crate::form_decode(v))
        })
        .collect()
}

/// The query protocol: a form with `Action=`, members as `Name`,
/// `List.member.N`, `Map.entry.N.key`.
fn query_request<'s>(
    service: &'s Service,
    request: &Request<'_>,
) -> Option<(&'s Operation, Value)> {
    let form: HashMap<String, String> = pairs(&String::from_utf8_lossy(request.body))
        .into_iter()
        .collect();
    let operation = service
        .operations
        .iter()
        .find(|o| Some(&o.name) == form.get("Action"))?;
    let input = match &operation.input {
        Some(shape) => from_form(&service.shapes, shape, "", &form).unwrap_or(Value::Null),
        None => Value::Null,
    };
    Some((operation, input))
}

fn from_form(
    shapes: &Map<String, Value>,
    shape: &str,
    prefix: &str,
    form: &HashMap<String, String>,
) -> Option<Value> {
    let def = &shapes[shape];
    let present = |key: &str| {
        form.contains_key(key) || form.keys().any(|k| k.starts_with(&format!("{key}.")))
    };
    match def["type"].as_str()? {
        "structure" => {
            let mut object = Map::new();
            for (member, spec) in def["members"].as_object()? {
                let wire = spec["locationName"].as_str().unwrap_or(member);
                let key = if prefix.is_empty() {
                    wire.to_owned()
                } else {
                    format!("{prefix}.{wire}")
                };
                if present(&key) {
                    let value = from_form(shapes, spec["shape"].as_str()?, &key, form)?;
                    object.insert(member.clone(), value);
                }
            }
            Some(Value::Object(object))
        }
        "list" => {
            let member = def["member"]["shape"].as_str()?;
            let items = (1..)
                .map(|n| format!("{prefix}.member.{n}"))
                .take_while(|key| present(key))
                .filter_map(|key| from_form(shapes, member, &key, form))
                .collect();
            Some(Value::Array(items))
        }
        "map" => {
            let mut object = Map::new();
            for n in 1.. {
                let entry = format!("{prefix}.entry.{n}");
                let Some(key) = form.get(&format!("{entry}.key")) else {
                    break;
                };
                let value = from_form(
                    shapes,
                    def["value"]["shape"].as_str()?,
                    &format!("{entry}.value"),
                    form,
                )?;
                object.insert(key.clone(), value);
            }
            Some(Value::Object(object))
        }
        _ => form.get(prefix).map(|v| Value::String(v.clone())),
    }
}

/// REST JSON: the operation is found by method and path template; members
/// come from the path's labels, the query string, headers and the body.
fn rest_request<'s>(service: &'s Service, request: &Request<'_>) -> Option<(&'s Operation, Value)> {
    let segments: Vec<&str> = request.path.split('/').collect();
    let (operation, labels) = service
        .operations
        .iter()
        .filter(|o| o.method == request.method)
        .filter_map(|o| match_template(&o.template, &segments).map(|labels| (o, labels)))
        // The template with the most literal segments is the one meant.
        .max_by_key(|(o, _)| o.template.iter().filter(|s| !s.starts_with('{')).count())?;
    let Some(shape) = &operation.input else {
        return Some((operation, Value::Null));
    };
    let def = &service.shapes[shape];
    let body: Value = serde_json::from_slice(request.body).unwrap_or(Value::Null);
    let query: Vec<(String, String)> = request.query.map(pairs).unwrap_or_default();
    let payload = def["payload"].as_str();
    let mut input = Map::new();
    for (member, spec) in def["members"].as_object()? {
        let wire = spec["locationName"].as_str().unwrap_or(member);
        let value = match spec["location"].as_str() {
            Some("uri") => labels.get(wire).cloned().map(Value::String),
            Some("querystring") => {
                let values: Vec<Value> = query
                    .iter()
                    .filter(|(k, _)| k == wire)
                    .map(|(_, v)| Value::String(v.clone()))
                    .collect();
                let is_list = service.shapes[spec["shape"].as_str()?]["type"] == "list";
                match (values.len(), is_list) {
                    (0, _) => None,
                    (_, true) => Some(Value::Array(values)),
                    (_, false) => values.into_iter().next(),
                }
            }
            Some("header") => request
                .headers
                .get(wire)
                .and_then(|v| v.to_str().ok())
                .map(|v| Value::String(v.to_owned())),
            Some(_) => None,
            // The payload member is the whole body (a blob: not checked here).
            None if payload == Some(member.as_str()) => {
                (!request.body.is_empty()).then(|| Value::String(String::new()))
            }
            None => body.get(wire).cloned(),
        };
        if let Some(value) = value {
            input.insert(member.clone(), value);
        }
    }
    Some((operation, Value::Object(input)))
}

/// The labels of `template` (`{FunctionName}`, greedy `{Key+}`) in the path, if it matches.
fn match_template(template: &[String], segments: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut i = 0;
    for (t, part) in template.iter().enumerate() {
        if let Some(label) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if let Some(greedy) = label.strip_suffix('+') {
                let rest = template.len() - t - 1;
                let end = segments.len().checked_sub(rest)?;
                labels.insert(
                    greedy.to_owned(),
                    crate::percent_decode(&segments.get(i..end)?.join("/")),
                );
                i = end;
                continue;
            }
            let value = segments.get(i)?;
            if value.is_empty() {
                return None;
            }
            labels.insert(label.to_owned(), crate::percent_decode(value));
        } else if segments.get(i) != Some(&part.as_str()) {
            return None;
        }
        i += 1;
    }
    (i == segments.len()).then_some(labels)
}

/// Walks a value and its shape, noting each broken constraint.
struct Checker<'a> {
    shapes: &'a Map<String, Value>,
    problems: &'a mut Vec<String>,
}

impl Checker<'_> {
    fn value(&mut self, value: &Value, shape: &str, path: &str) {
        let def = &self.shapes[shape];
        let at = if path.is_empty() { "the input" } else { path };
        match def["type"].as_str().unwrap_or_default() {
            "structure" => {
                let Some(object) = value.as_object() else {
                    if !value.is_null() {
                        self.problems.push(format!("{at}: not a structure"));
                    }
                    return;
                };
                for required in def["required"].as_array().into_iter().flatten() {
                    let name = required.as_str().unwrap_or_default();
                    if object.get(name).is_none_or(Value::is_null) {
                        self.problems
                            .push(format!("{}: required, missing", join(path, name)));
                    }
                }
                for (name, member) in object {
                    if let Some(spec) = def["members"].get(name) {
                        let member_shape = spec["shape"].as_str().unwrap_or_default();
                        self.value(member, member_shape, &join(path, name));
                    }
                }
            }
            "list" => {
                let Some(items) = value.as_array() else {
                    return self.problems.push(format!("{at}: not a list"));
                };
                self.range(def, items.len() as f64, at, "items");
                let member = def["member"]["shape"].as_str().unwrap_or_default();
                for (n, item) in items.iter().enumerate() {
                    self.value(item, member, &format!("{at}[{n}]"));
                }
            }
            "map" => {
                let Some(entries) = value.as_object() else {
                    return self.problems.push(format!("{at}: not a map"));
                };
                self.range(def, entries.len() as f64, at, "entries");
                let key = def["key"]["shape"].as_str().unwrap_or_default();
                let item = def["value"]["shape"].as_str().unwrap_or_default();
                for (k, v) in entries {
                    self.value(&Value::String(k.clone()), key, &format!("{at} key '{k}'"));
                    self.value(v, item, &format!("{at}['{k}']"));
                }
            }
            "string" => self.string(def, value, at),
            "integer" | "long" | "double" | "float" => {
                let number = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.parse().ok()));
                match number {
                    Some(n) => self.range(def, n, at, "as a number"),
                    None => self.problems.push(format!("{at}: not a number: {value}")),
                }
            }
            "boolean" => {
                let ok = value.is_boolean() || matches!(value.as_str(), Some("true" | "false"));
                if !ok {
                    self.problems.push(format!("{at}: not a boolean: {value}"));
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, def: &Value, value: &Value, at: &str) {
        let Some(text) = value.as_str() else {
            return self.problems.push(format!("{at}: not a string: {value}"));
        };
        self.range(def, text.chars().count() as f64, at, "characters");
        if let Some(allowed) = def["enum"].as_array() {
            if !allowed.iter().any(|a| a == text) {
                self.problems
                    .push(format!("{at}: '{text}' is not one of {allowed:?}"));
            }
        }
        if let Some(pattern) = def["pattern"].as_str() {
            match compiled(pattern) {
                Some(regex) if !regex.is_match(text) => self
                    .problems
                    .push(format!("{at}: '{text}' does not match {pattern}")),
                Some(_) => {}
                None => note_unreadable(pattern),
            }
        }
    }

    /// `min` / `max` of a length (`unit`) or a number.
    fn range(&mut self, def: &Value, n: f64, at: &str, unit: &str) {
        if let Some(min) = def["min"].as_f64() {
            if n < min {
                self.problems
                    .push(format!("{at}: {n} {unit}, under the minimum {min}"));
            }
        }
        if let Some(max) = def["max"].as_f64() {
            if n > max {
                self.problems
                    .push(format!("{at}: {n} {unit}, over the maximum {max}"));
            }
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Each pattern compiled once; `None` for one the engine cannot read.
fn compiled(pattern: &str) -> Option<Arc<regex::Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Mutex::default).lock().unwrap();
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// What the checks met in this process: each operation checked (and how
/// often), its violations, and the patterns the engine could not read.
#[derive(Default)]
struct Tally {
    operations: BTreeMap<String, usize>,
    violations: Vec<String>,
    unreadable_patterns: std::collections::BTreeSet<String>,
}

fn tally() -> &'static Mutex<Tally> {
    static TALLY: OnceLock<Mutex<Tally>> = OnceLock::new();
    TALLY.get_or_init(Mutex::default)
}

fn note_unreadable(pattern: &str) {
    let new = tally()
        .lock()
        .unwrap()
        .unreadable_patterns
        .insert(pattern.to_owned());
    if new {
        write_tally();
    }
}

fn record(service: &str, operation: &str, problems: &[String]) {
    let mut tally = tally().lock().unwrap();
    let count = tally
        .operations
        .entry(format!("{service} {operation}"))
        .or_default();
    *count += 1;
    let new = *count == 1;
    for problem in problems {
        tally
            .violations
            .push(format!("{service} {operation}: {problem}"));
    }
    drop(tally);
    if new || !problems.is_empty() {
        write_tally();
    }
}

/// `target/model-checks/{pid}.json`: what this process checked, for the
/// suite's summary (`tests/run` prints the union).
fn write_tally() {
    let tally = tally().lock().unwrap();
    let dir = crate::repo_root().join("target/model-checks");
    let _ = std::fs::create_dir_all(&dir);
    let summary = serde_json::json!({
        "operations": tally.operations,
        "violations": tally.violations,
        "unreadable_patterns": tally.unreadable_patterns,
    });
    let _ = std::fs::write(
        dir.join(format!("{}.json", std::process::id())),
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    );
}
