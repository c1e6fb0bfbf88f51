//! The functions' IAM role, trusted by Lambda, with one inline least-privilege policy.

use super::{finish, is_not_found, Change, Ctx, Resource};
use crate::aws::aws_error;
use crate::error::Result;
use aws_sdk_iam::types::{Role, Tag};
use serde_json::Value;
use std::collections::HashMap;

const ROLE: &str = "iam role";
const POLICY: &str = "iam policy";

/// IAM hands policy documents back URL-encoded.
fn decode_policy(document: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

async fn get_role(ctx: &Ctx<'_>) -> Result<Option<Role>> {
    let name = ctx.spec.role();
    match ctx.clients.iam.get_role().role_name(&name).send().await {
        Ok(out) => Ok(out.role),
        Err(e) if e.as_service_error().is_some_and(is_not_found) => Ok(None),
        Err(e) => Err(aws_error("IAM GetRole", &name, e)),
    }
}

fn role_tags(role: &Role) -> HashMap<String, String> {
    role.tags()
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

pub async fn ensure_role(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.role();
    let task = ctx.progress.task(format!("{ROLE} {name}"));
    let iam = &ctx.clients.iam;
    let trust = ctx.spec.trust_policy();
    let Some(role) = get_role(ctx).await? else {
        if !ctx.dry_run {
            task.set("creating");
            let tags = ctx.spec.tags().into_iter().map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            });
            iam.create_role()
                .role_name(&name)
                .assume_role_policy_document(trust.to_string())
                .description(format!(
                    "wschat stack {}: the chat's Lambda functions",
                    ctx.spec.prefix()
                ))
                .set_tags(Some(tags.collect()))
                .send()
                .await
                .map_err(|e| aws_error("IAM CreateRole", &name, e))?;
        }
        return Ok(finish(
            ctx,
            &task,
            Resource::new(ROLE, name, Change::Created),
        ));
    };
    if !ctx.spec.owns(&role_tags(&role)) {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(ROLE, name, Change::Foreign),
        ));
    }
    if role
        .assume_role_policy_document
        .as_deref()
        .and_then(decode_policy)
        == Some(trust.clone())
    {
        return Ok(finish(
            ctx,
            &task,
            Resource::new(ROLE, name, Change::Unchanged),
        ));
    }
    if !ctx.dry_run {
        iam.update_assume_role_policy()
            .role_name(&name)
            .policy_document(trust.to_string())
            .send()
            .await
            .map_err(|e| aws_error("IAM UpdateAssumeRolePolicy", &name, e))?;
    }
    Ok(finish(
        ctx,
        &task,
        Resource::new(
            ROLE,
            name,
            Change::Updated {
                fields: vec!["trust policy".into()],
            },
        ),
    ))
}

/// The inline policy; it names the API, so it waits for the API's id.
pub async fn ensure_policy(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    role_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.policy_name();
    let role = ctx.spec.role();
    let task = ctx.progress.task(format!("{POLICY} {name}"));
    let iam = &ctx.clients.iam;
    let Some(api_id) = api_id else {
        // Dry run with no API yet: the policy will be written once the API exists.
        return Ok(finish(
            ctx,
            &task,
            Resource::new(POLICY, name, Change::Created),
        ));
    };
    let wanted = ctx.spec.access_policy(api_id);
    let current = if role_created {
        None
    } else {
        match iam
            .get_role_policy()
            .role_name(&role)
            .policy_name(&name)
            .send()
            .await
        {
            Ok(out) => decode_policy(&out.policy_document),
            Err(e) if e.as_service_error().is_some_and(is_not_found) => None,
            Err(e) => return Err(aws_error("IAM GetRolePolicy", &name, e)),
        }
    };
    let change = match &current {
        Some(doc) if *doc == wanted => {
            return Ok(finish(
                ctx,
                &task,
                Resource::new(POLICY, name, Change::Unchanged),
            ))
        }
        Some(_) => Change::Updated {
            fields: vec!["statements".into()],
        },
        None => Change::Created,
    };
    if !ctx.dry_run {
        task.set("writing");
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(&name)
            .policy_document(wanted.to_string())
            .send()
            .await
            .map_err(|e| aws_error("IAM PutRolePolicy", &name, e))?;
    }
    Ok(finish(ctx, &task, Resource::new(POLICY, name, change)))
}

/// The inline policy first: IAM refuses to delete a role that still has one.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.role();
    let task = ctx.progress.task(format!("{ROLE} {name}"));
    let iam = &ctx.clients.iam;
    let Some(role) = get_role(ctx).await? else {
        return Ok(vec![finish(
            ctx,
            &task,
            Resource::new(ROLE, name, Change::Absent),
        )]);
    };
    if !ctx.spec.owns(&role_tags(&role)) {
        return Ok(vec![finish(
            ctx,
            &task,
            Resource::new(ROLE, name, Change::Foreign),
        )]);
    }
    let mut reports = Vec::new();
    let policies = iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("IAM ListRolePolicies", &name, e))?;
    for policy in policies.policy_names {
        if !ctx.dry_run {
            match iam
                .delete_role_policy()
                .role_name(&name)
                .policy_name(&policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
                Err(e) => return Err(aws_error("IAM DeleteRolePolicy", &policy, e)),
            }
        }
        reports.push(Resource::new(POLICY, policy, Change::Deleted));
    }
    if !ctx.dry_run {
        match iam.delete_role().role_name(&name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {}
            Err(e) => return Err(aws_error("IAM DeleteRole", &name, e)),
        }
    }
    reports.push(finish(
        ctx,
        &task,
        Resource::new(ROLE, name, Change::Deleted),
    ));
    Ok(reports)
}

pub async fn exists(ctx: &Ctx<'_>) -> Result<bool> {
    Ok(get_role(ctx)
        .await?
        .is_some_and(|r| ctx.spec.owns(&role_tags(&r))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_iam_policy_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            super::decode_policy(encoded),
            Some(serde_json::json!({"Version": "2012-10-17"}))
        );
    }
}
