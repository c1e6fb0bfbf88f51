//! The functions' IAM role, trusted by Lambda, with one inline least-privilege policy.

use super::{Change, Ctx, Ownership, Resource, Stack};
use crate::aws::{checked, created, or_absent};
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

/// What an IAM document needs, compared as JSON (IAM reorders nothing but
/// encodes everything). An unreadable document counts as different.
pub fn document_change(current: Option<&str>, wanted: &Value, field: &str) -> Change {
    let unreadable = Value::Null;
    let decoded = current.map(|doc| decode_policy(doc).unwrap_or(unreadable.clone()));
    Change::of_value(decoded.as_ref(), wanted, field)
}

async fn get_role(stack: &Stack) -> Result<Option<Role>> {
    let name = stack.spec.role();
    let out = or_absent(
        stack.clients.iam.get_role().role_name(&name).send().await,
        "IAM GetRole",
        &name,
    )?;
    Ok(out.and_then(|o| o.role))
}

fn role_tags(role: &Role) -> HashMap<String, String> {
    role.tags()
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

pub async fn ensure_role(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.role();
    let iam = &ctx.clients.iam;
    let trust = ctx.spec.trust_policy();
    ctx.track(ROLE, &name, async |task| {
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
                let request = iam
                    .create_role()
                    .role_name(&name)
                    .assume_role_policy_document(trust.to_string())
                    .description(format!(
                        "wschat stack {}: the chat's Lambda functions",
                        ctx.spec.prefix()
                    ))
                    .set_tags(Some(tags.collect()));
                created(request.send().await, "IAM CreateRole", &name)?;
            }
            return Ok(Change::Created);
        };
        if !ctx.spec.owns(&role_tags(&role)) {
            return Ok(Change::Foreign);
        }
        let current = role
            .assume_role_policy_document
            .as_deref()
            .unwrap_or_default();
        let change = document_change(Some(current), &trust, "trust policy");
        if change != Change::Unchanged && !ctx.dry_run {
            let request = iam
                .update_assume_role_policy()
                .role_name(&name)
                .policy_document(trust.to_string());
            checked(request.send().await, "IAM UpdateAssumeRolePolicy", &name)?;
        }
        Ok(change)
    })
    .await
}

/// The inline policy; it names the API, so it waits for the API's id.
pub async fn ensure_policy(
    ctx: &Ctx<'_>,
    api_id: Option<&str>,
    role_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.policy_name();
    let role = ctx.spec.role();
    let iam = &ctx.clients.iam;
    ctx.track(POLICY, &name, async |task| {
        let Some(api_id) = api_id else {
            // Dry run with no API yet: the policy will be written once the API exists.
            return Ok(Change::Created);
        };
        let wanted = ctx.spec.access_policy(api_id);
        let current = if role_created {
            None
        } else {
            let request = iam.get_role_policy().role_name(&role).policy_name(&name);
            or_absent(request.send().await, "IAM GetRolePolicy", &name)?
                .map(|out| out.policy_document)
        };
        let change = document_change(current.as_deref(), &wanted, "statements");
        if change != Change::Unchanged && !ctx.dry_run {
            task.set("writing");
            let request = iam
                .put_role_policy()
                .role_name(&role)
                .policy_name(&name)
                .policy_document(wanted.to_string());
            checked(request.send().await, "IAM PutRolePolicy", &name)?;
        }
        Ok(change)
    })
    .await
}

pub async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(Ownership::of(get_role(stack).await?, |r| {
        stack.spec.owns(&role_tags(r))
    }))
}

/// The inline policies first: IAM refuses to delete a role that still has one.
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.role();
    let iam = &ctx.clients.iam;
    let owned = ownership(ctx).await?;
    let policies = if owned == Ownership::Ours {
        checked(
            iam.list_role_policies().role_name(&name).send().await,
            "IAM ListRolePolicies",
            &name,
        )?
        .policy_names
    } else {
        Vec::new()
    };
    let role = ctx
        .remove(ROLE, &name, std::future::ready(Ok(owned)), async |_| {
            for policy in &policies {
                let request = iam
                    .delete_role_policy()
                    .role_name(&name)
                    .policy_name(policy);
                or_absent(request.send().await, "IAM DeleteRolePolicy", policy)?;
            }
            or_absent(
                iam.delete_role().role_name(&name).send().await,
                "IAM DeleteRole",
                &name,
            )?;
            Ok(())
        })
        .await?;
    let mut resources: Vec<Resource> = policies
        .into_iter()
        .map(|p| Resource::new(POLICY, p, Change::Deleted))
        .collect();
    resources.push(role);
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_iam_policy_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            decode_policy(encoded),
            Some(json!({"Version": "2012-10-17"}))
        );
    }

    #[test]
    fn a_policy_is_compared_as_json_not_as_text() {
        let wanted = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]});
        let reordered = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            document_change(Some(reordered), &wanted, "statements"),
            Change::Unchanged
        );
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny"}]});
        assert_eq!(
            document_change(Some(&other.to_string()), &wanted, "statements"),
            Change::Updated {
                fields: vec!["statements".into()]
            }
        );
        assert_eq!(
            document_change(Some("not json"), &wanted, "trust policy"),
            Change::Updated {
                fields: vec!["trust policy".into()]
            }
        );
        assert_eq!(
            document_change(None, &wanted, "statements"),
            Change::Created
        );
    }
}
