//! A stage at its own address: certificate, DNS and API mapping made and
//! removed by `wschat deploy` and `teardown`, against moto behind the realism
//! layer (ACM names its validation record a moment after the request and
//! validates only once the record resolves).

use crate::checks::{check_nothing_left, moto_stack};
use crate::harness::{lambda_zips, run, wschat_aws, Run};
use serde_json::{json, Value};
use wschat::stack::domain::{certificate, dns, gateway};
use wschat::stack::Stack;
use wschat_lambdas::json_api::{JsonApi, ACM, ROUTE_53};
use wschat_test_support::moto::{unique, Moto};
use wschat_test_support::proxy::{writes, Proxy};
use wschat_test_support::realism::Realism;

struct Chat {
    proxy: Proxy,
    name: String,
    stack: Stack,
}

impl Chat {
    async fn new(prefix: &str) -> Chat {
        let proxy = Proxy::start(&Moto::shared().endpoint).await;
        proxy.realistic(Realism::default());
        let name = unique(prefix);
        let stack = moto_stack(&name).await;
        Chat { proxy, name, stack }
    }

    async fn wschat(&self, args: &[&str]) -> Run {
        let mut cmd = wschat_aws(&self.proxy.endpoint, &self.name);
        if args.first() != Some(&"--output") {
            cmd.args(["--output", "json"]);
        }
        cmd.args(args);
        if args.first() == Some(&"deploy") {
            cmd.arg("--prebuilt").arg(lambda_zips()).arg("--web-client");
            cmd.arg(std::env::temp_dir().join(format!("{}.html", self.name)));
        }
        run(cmd).await
    }

    async fn deployed(&self, args: &[&str]) -> Value {
        let out = self.wschat(&[&["deploy"], args].concat()).await;
        assert_eq!(
            out.code, 0,
            "deploy failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.json()
    }

    fn web_client(&self) -> String {
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}.html", self.name))).unwrap()
    }
}

fn api(
    sdk: &aws_config::SdkConfig,
    service: &'static wschat_lambdas::json_api::Service,
) -> JsonApi {
    JsonApi::new(sdk.clone(), service, std::time::Duration::from_secs(10))
}

/// A public hosted zone in moto's Route 53.
async fn hosted_zone(name: &str) -> dns::Zone {
    let sdk = Moto::shared().sdk_config().await;
    let body = format!(
        r#"<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{name}.</Name><CallerReference>{name}</CallerReference></CreateHostedZoneRequest>"#
    );
    let created = api(&sdk, &ROUTE_53)
        .rest_xml("POST", "/2013-04-01/hostedzone", Some(&body))
        .await
        .unwrap();
    let id = wschat_lambdas::xml::first(&created, "Id").unwrap();
    dns::Zone {
        id: id.trim_start_matches("/hostedzone/").to_owned(),
        name: name.to_owned(),
    }
}

/// A certificate of the user's, requested beside wschat (moto issues it at once).
async fn users_certificate(domain: &str) -> String {
    let sdk = Moto::shared().sdk_config().await;
    let input = json!({"DomainName": domain, "ValidationMethod": "DNS"});
    let requested = api(&sdk, &ACM)
        .call("RequestCertificate", &input)
        .await
        .unwrap();
    requested["CertificateArn"].as_str().unwrap().to_owned()
}

/// What `wschat doctor --domain` says of the domain.
async fn doctor_says(chat: &Chat, domain: &str) -> String {
    let out = chat.wschat(&["doctor", "--domain", domain]).await;
    let report = out.json();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "domain");
    let check = check.unwrap_or_else(|| panic!("no domain check: {report}"));
    assert_eq!(check["ok"], true, "{check}");
    check["detail"].as_str().unwrap().to_owned()
}

fn api_id(report: &Value) -> String {
    let url = report["execute_api_url"].as_str().unwrap();
    url["wss://".len()..].split('.').next().unwrap().to_owned()
}

/// With the account's hosted zone: the validation record written, the
/// certificate issued once it resolves, the domain name, its A and AAAA
/// aliases and the mapping made, every URL switched to the domain; a
/// redeploy writes nothing; teardown removes all of it, records included.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_hosted_zone_deploy_makes_the_domain_live_and_teardown_removes_it() {
    let chat = Chat::new("dom").await;
    let zone = hosted_zone(&format!("{}.example.com", chat.name)).await;
    let domain = format!("chat.{}", zone.name);
    let doctor = doctor_says(&chat, &domain).await;
    assert!(
        doctor.contains(&format!("Route 53 hosted zone {}", zone.name))
            && doctor.contains("deploy writes"),
        "{doctor}"
    );
    chat.proxy.take();
    let plan = chat.deployed(&["--domain", &domain, "--dry-run"]).await;
    assert_eq!(
        writes(&chat.proxy.take()),
        Vec::<String>::new(),
        "a dry run writes nothing"
    );
    let planned: Vec<(&str, &str)> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            ["certificate", "domain name", "api mapping"].contains(&r["kind"].as_str().unwrap())
        })
        .map(|r| (r["kind"].as_str().unwrap(), r["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        planned,
        [
            ("certificate", "created"),
            ("domain name", "created"),
            ("api mapping", "created")
        ],
        "{plan}"
    );
    let report = chat.deployed(&["--domain", &domain]).await;
    let url = format!("wss://{domain}");
    assert_eq!(report["websocket_url"], url.as_str(), "{report}");
    assert!(report["execute_api_url"]
        .as_str()
        .unwrap()
        .contains(".execute-api."));
    let live = &report["domain"];
    assert_eq!(live["live"], true, "{live}");
    assert_eq!(live["certificate_status"], "ISSUED");
    assert_eq!(live["certificate_owned"], true);
    let records = live["records"].as_array().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CNAME", "A", "AAAA"], "{live}");
    assert!(records.iter().all(|r| r["in_zone"] == true), "{live}");
    assert!(
        chat.web_client().contains(&url),
        "the web client connects to the domain"
    );

    // What AWS has: the records in the zone, the domain name, the mapping.
    let stack = &chat.stack;
    let target = gateway::find(stack, &domain)
        .await
        .unwrap()
        .expect("the domain name");
    assert_eq!(target.security_policy, "TLS_1_2");
    assert_eq!(target.endpoint_type, "REGIONAL");
    assert!(stack.spec.owns(&target.tags));
    let aliases = dns::records(&stack.clients, &zone, &domain).await.unwrap();
    assert_eq!(aliases.len(), 2, "{aliases:?}");
    // The regional target as API Gateway names it (moto leaves it out; the realism layer adds it).
    let regional = records[1]["value"].as_str().unwrap();
    assert!(
        regional.starts_with("d-") && regional.ends_with(".execute-api.us-east-1.amazonaws.com"),
        "{live}"
    );
    assert!(aliases
        .iter()
        .all(|r| r.value == regional && r.alias_zone.is_some()));
    let validation = &records[0]["name"];
    let cname = dns::records(&stack.clients, &zone, validation.as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(cname.len(), 1, "the validation record");
    let mappings = gateway::mappings(stack, &domain).await.unwrap();
    assert_eq!(mappings.len(), 1);
    assert_eq!(
        (
            mappings[0].api_id.as_str(),
            mappings[0].stage.as_str(),
            mappings[0].key.as_str()
        ),
        (api_id(&report).as_str(), "dev", "")
    );

    chat.proxy.take();
    let again = chat.deployed(&["--domain", &domain]).await;
    assert_eq!(
        writes(&chat.proxy.take()),
        Vec::<String>::new(),
        "an unchanged redeploy writes nothing"
    );
    assert_eq!(again["websocket_url"], url.as_str());

    let status = chat.wschat(&["status"]).await;
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let status = status.json();
    assert_eq!(status["websocket_url"], url.as_str());
    assert_eq!(status["domain"]["live"], true);
    let text = chat.wschat(&["--output", "text", "status"]).await.stdout;
    assert!(
        text.contains(&format!("domain        {url} (live)")),
        "{text}"
    );

    let down = chat.wschat(&["teardown", "--yes"]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(down.json()["leftovers"], json!([]));
    assert!(gateway::find(stack, &domain).await.unwrap().is_none());
    assert!(
        dns::records(&stack.clients, &zone, &domain)
            .await
            .unwrap()
            .is_empty(),
        "the aliases went"
    );
    let cname = dns::records(&stack.clients, &zone, validation.as_str().unwrap())
        .await
        .unwrap();
    assert!(cname.is_empty(), "the validation record went");
    assert!(
        certificate::find_ours(stack, None)
            .await
            .unwrap()
            .is_empty(),
        "the certificate went"
    );
    check_nothing_left(stack).await;
}

/// Without a hosted zone: `--no-wait` returns with the validation record to
/// add; once it resolves (the user added it at their DNS provider), the next
/// deploy finishes the domain and lists the CNAME that points it at API
/// Gateway; a deploy without the domain removes it all.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_hosted_zone_the_records_are_printed_and_the_next_deploy_completes() {
    let chat = Chat::new("domnz").await;
    let domain = format!("chat.{}.example.net", chat.name);
    let doctor = doctor_says(&chat, &domain).await;
    assert!(
        doctor.contains("no public Route 53 hosted zone") && doctor.contains("DNS provider"),
        "{doctor}"
    );
    let first = chat.deployed(&["--domain", &domain, "--no-wait"]).await;
    let pending = &first["domain"];
    assert_eq!(pending["live"], false, "{pending}");
    assert_eq!(pending["certificate_status"], "PENDING_VALIDATION");
    assert!(pending["hosted_zone"].is_null());
    assert!(
        pending["waiting"]
            .as_str()
            .unwrap()
            .contains("DNS provider"),
        "{pending}"
    );
    let records = pending["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{pending}");
    assert_eq!(records[0]["type"], "CNAME");
    assert!(records[0]["in_zone"].is_null());
    assert!(
        first["websocket_url"]
            .as_str()
            .unwrap()
            .contains(".execute-api."),
        "the API's own URL until the domain is live"
    );
    assert!(
        gateway::find(&chat.stack, &domain).await.unwrap().is_none(),
        "no domain name before the certificate"
    );
    let text = chat.wschat(&["--output", "text", "status"]).await;
    assert_eq!(text.code, 3, "not complete: {}", text.stdout);
    assert!(
        text.stdout.contains(records[0]["value"].as_str().unwrap()),
        "status lists the record: {}",
        text.stdout
    );

    chat.proxy.publish_dns(records[0]["name"].as_str().unwrap());
    let second = chat.deployed(&["--domain", &domain]).await;
    let live = &second["domain"];
    assert_eq!(live["live"], true, "{live}");
    assert_eq!(second["websocket_url"], format!("wss://{domain}").as_str());
    assert!(gateway::find(&chat.stack, &domain).await.unwrap().is_some());
    let pointer = &live["records"][1];
    assert_eq!(
        (
            pointer["name"].as_str(),
            pointer["type"].as_str(),
            pointer["value"].as_str()
        ),
        (
            Some(domain.as_str()),
            Some("CNAME"),
            pointer["value"]
                .as_str()
                .filter(|t| t.starts_with("d-") && t.contains(".execute-api."))
        ),
        "{live}"
    );

    // Dropped from the settings: the next deploy removes what it made for it.
    let dropped = chat.deployed(&[]).await;
    let removed: Vec<(&str, &str)> = dropped["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] == "deleted")
        .map(|r| (r["kind"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    let mapping = format!("{domain}/");
    assert_eq!(
        removed,
        [
            ("api mapping", mapping.as_str()),
            ("domain name", domain.as_str()),
            ("certificate", domain.as_str())
        ],
        "{dropped}"
    );
    assert!(dropped["domain"].is_null());
    assert!(dropped["websocket_url"]
        .as_str()
        .unwrap()
        .contains(".execute-api."));
    assert!(certificate::find_ours(&chat.stack, None)
        .await
        .unwrap()
        .is_empty());

    let down = chat.wschat(&["teardown", "--yes"]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(down.json()["leftovers"], json!([]));
    check_nothing_left(&chat.stack).await;
}

/// `--certificate-arn`: the user's certificate serves the domain at once and
/// stays after teardown. A key of the domain mapped to another API is drift
/// that deploy refuses to take over; a domain name that maps another API too
/// makes teardown refuse before it deletes anything.
#[tokio::test(flavor = "multi_thread")]
async fn a_given_certificate_is_kept_and_a_shared_domain_is_never_taken_or_removed() {
    let chat = Chat::new("domcert").await;
    let domain = format!("chat.{}.example.org", chat.name);
    let arn = users_certificate(&domain).await;
    let elsewhere = arn.replace(":us-east-1:", ":eu-west-1:");
    chat.proxy.take();
    let refused = chat
        .wschat(&[
            "deploy",
            "--domain",
            &domain,
            "--certificate-arn",
            &elsewhere,
        ])
        .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("needs one in the API's region"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        writes(&chat.proxy.take()),
        Vec::<String>::new(),
        "refused before any write"
    );

    let report = chat
        .deployed(&["--domain", &domain, "--certificate-arn", &arn])
        .await;
    assert_eq!(report["domain"]["live"], true, "{}", report["domain"]);
    assert_eq!(report["domain"]["certificate_owned"], false);
    let ours = api_id(&report);

    // Another API on the same domain name.
    let apigw = &chat.stack.clients.apigw;
    let other = apigw
        .create_api()
        .name(format!("{}-other", chat.name))
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .send()
        .await
        .unwrap();
    let other = other.api_id.unwrap();
    apigw
        .create_stage()
        .api_id(&other)
        .stage_name("live")
        .send()
        .await
        .unwrap();
    apigw
        .create_api_mapping()
        .domain_name(&domain)
        .api_id(&other)
        .stage("live")
        .api_mapping_key("other")
        .send()
        .await
        .unwrap();
    chat.proxy.take();
    let down = chat.wschat(&["teardown", "--yes"]).await;
    assert_eq!(down.code, 2, "{}{}", down.stdout, down.stderr);
    assert!(
        down.stderr.contains("maps other APIs too"),
        "{}",
        down.stderr
    );
    assert!(
        down.stderr.contains(&other),
        "names the other API: {}",
        down.stderr
    );
    assert_eq!(
        writes(&chat.proxy.take()),
        Vec::<String>::new(),
        "nothing deleted"
    );

    // The stack's key taken by the other API: drift, reported and refused, never fixed silently.
    let mappings = gateway::mappings(&chat.stack, &domain).await.unwrap();
    let mine = mappings.iter().find(|m| m.api_id == ours).unwrap();
    apigw
        .delete_api_mapping()
        .domain_name(&domain)
        .api_mapping_id(&mine.id)
        .send()
        .await
        .unwrap();
    apigw
        .create_api_mapping()
        .domain_name(&domain)
        .api_id(&other)
        .stage("live")
        .send()
        .await
        .unwrap();
    let status = chat.wschat(&["status"]).await;
    assert_eq!(status.code, 3, "{}", status.stdout);
    let drifted = status.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "api mapping")
        .cloned()
        .unwrap();
    assert_eq!(drifted["state"], "drifted", "{drifted}");
    assert!(
        drifted["differences"][0].as_str().unwrap().contains(&other),
        "{drifted}"
    );
    let taken = chat
        .wschat(&["deploy", "--domain", &domain, "--certificate-arn", &arn])
        .await;
    assert_eq!(taken.code, 2, "{}", taken.stderr);
    assert!(
        taken.stderr.contains("does not take it over"),
        "{}",
        taken.stderr
    );

    for m in gateway::mappings(&chat.stack, &domain).await.unwrap() {
        apigw
            .delete_api_mapping()
            .domain_name(&domain)
            .api_mapping_id(&m.id)
            .send()
            .await
            .unwrap();
    }
    apigw.delete_api().api_id(&other).send().await.unwrap();
    let down = chat.wschat(&["teardown", "--yes"]).await;
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert_eq!(down.json()["leftovers"], json!([]));
    assert!(gateway::find(&chat.stack, &domain).await.unwrap().is_none());
    let kept = certificate::describe(&chat.stack, &arn).await.unwrap();
    assert!(kept.is_some(), "the user's certificate stays");
    check_nothing_left(&chat.stack).await;
}
