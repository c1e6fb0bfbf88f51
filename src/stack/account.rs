//! API Gateway's account-wide CloudWatch Logs role: every stage of the
//! account and region writes its access logs with it, so a stage cannot
//! log without it. It is an account setting, not this stack's: `deploy`
//! sets it only when told (`--set-account-logging-role`), says what it
//! changes, and `teardown` never undoes it.

use super::{Change, Ctx, Resource, Stack};
use crate::aws::json;
use crate::error::{CliError, Result};
use serde_json::json;
use std::time::Duration;
use wschat_lambdas::json_api::API_GATEWAY;
use wschat_lambdas::retry::Backoff;

const KIND: &str = "account setting";
/// IAM takes seconds to show a new role to API Gateway, which refuses it meanwhile.
const PROPAGATION: Duration = Duration::from_secs(90);

/// The role API Gateway logs with in this account and region, if one is set.
pub async fn logging_role(stack: &Stack) -> Result<Option<String>> {
    let on = format!("the account's settings in {}", stack.spec.region);
    let account = json::rest(&stack.clients, &API_GATEWAY, ("GET", "/account"), None, &on)
        .await?
        .map_err(|e| json::failed(&API_GATEWAY, "GetAccount", &on, &e))?;
    Ok(account["cloudwatchRoleArn"]
        .as_str()
        .filter(|arn| !arn.is_empty())
        .map(str::to_owned))
}

/// Before any write of a deploy with access logs: a role is set, or is set
/// now (`set` given), or the deploy stops and says how to fix it. A dry run
/// reports what it would set.
pub async fn ensure(ctx: &Ctx<'_>, set: bool) -> Result<Option<Resource>> {
    if !ctx.spec.settings.access_logs || logging_role(ctx).await?.is_some() {
        return Ok(None);
    }
    let role = ctx.spec.account_logging_role_arn();
    if !set {
        return Err(CliError::usage(format!(
            "access logs need API Gateway's account-wide CloudWatch Logs role, and none is set in {}",
            ctx.spec.region
        ))
        .with_hint(format!(
            "run `wschat deploy --access-logs --set-account-logging-role` to create {role} and set it \
             (an account setting: every API in the region logs with it, and teardown leaves it), \
             or set your own: aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN"
        )));
    }
    // Said in full: this changes the account, not only the stack.
    let setting = format!(
        "API Gateway's CloudWatch Logs role in {} → {role}",
        ctx.spec.region
    );
    let resource = ctx
        .track(KIND, setting, async |task| {
            if !ctx.dry_run {
                task.set("creating the role");
                create_role(ctx).await?;
                task.set("setting it on the account");
                set_role(ctx, &role).await?;
            }
            Ok(Change::Created)
        })
        .await?;
    Ok(Some(resource))
}

/// The role API Gateway assumes to write logs.
async fn create_role(ctx: &Ctx<'_>) -> Result<()> {
    let iam = &ctx.clients.iam;
    let name = ctx.spec.account_logging_role();
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "apigateway.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    });
    let request = iam
        .create_role()
        .role_name(name)
        .description(
            "API Gateway writes access logs to CloudWatch Logs with this role (set by wschat)",
        )
        .assume_role_policy_document(trust.to_string());
    match request.send().await {
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) => {}
        answer => {
            crate::aws::checked(answer, "IAM CreateRole", name)?;
        }
    }
    // What AWS's managed AmazonAPIGatewayPushToCloudWatchLogs allows, inline:
    // the same on every partition, and readable where the role is.
    let logging = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ],
            "Resource": "*",
        }],
    });
    let request = iam
        .put_role_policy()
        .role_name(name)
        .policy_name("push-to-cloudwatch-logs")
        .policy_document(logging.to_string());
    crate::aws::checked(request.send().await, "IAM PutRolePolicy", name)?;
    Ok(())
}

/// `PATCH /account`, retried while IAM has not yet shown API Gateway the role.
async fn set_role(ctx: &Ctx<'_>, role: &str) -> Result<()> {
    let patch = json!({ "patchOperations": [
        { "op": "replace", "path": "/cloudwatchRoleArn", "value": role },
    ]});
    let on = format!("the account's settings in {}", ctx.spec.region);
    let every = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
    let deadline = tokio::time::Instant::now() + PROPAGATION;
    for attempt in 1.. {
        let answer = json::rest(
            &ctx.clients,
            &API_GATEWAY,
            ("PATCH", "/account"),
            Some(&patch),
            &on,
        )
        .await?;
        match answer {
            Ok(_) => return Ok(()),
            // "The role ARN does not have required permissions set to API
            // Gateway": IAM has not shown it the new role yet.
            Err(e) if e.code.contains("BadRequest") && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(every.delay(attempt)).await;
            }
            Err(e) => {
                return Err(json::failed(&API_GATEWAY, "UpdateAccount", &on, &e).with_hint(
                    "if IAM is still propagating the new role, run the same deploy again in a minute",
                ))
            }
        }
    }
    unreachable!("the loop returns")
}
