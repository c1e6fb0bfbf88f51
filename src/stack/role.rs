//! The functions' IAM role, trusted by Lambda. Its inline policy is [`super::policy`].

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::Result;
use aws_sdk_iam::types::{Role, Tag};
use serde_json::Value;
use std::collections::HashMap;

const KIND: &str = "iam role";
/// Inline policies, as [`super::policy`] reports them.
const INLINE_POLICY: &str = "iam policy";

/// IAM hands policy documents back URL-encoded.
fn decode_document(document: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&decoded).ok()
}

/// Whether an IAM document as IAM returns it says what `wanted` says,
/// compared as JSON (IAM reorders nothing but encodes everything). An
/// unreadable document counts as different.
pub fn same_document(current: &str, wanted: &Value) -> bool {
    decode_document(current).as_ref() == Some(wanted)
}

/// The stack's role, if it exists.
pub async fn find(stack: &Stack) -> Result<Option<Role>> {
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

/// What differs between the role and the role the functions need.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoleDiff {
    pub trust_policy: bool,
}

impl RoleDiff {
    pub fn between(role: &Role, trust: &Value) -> RoleDiff {
        let current = role.assume_role_policy_document.as_deref().unwrap_or("");
        RoleDiff {
            trust_policy: !same_document(current, trust),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == RoleDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        self.trust_policy
            .then(|| "trust policy".to_owned())
            .into_iter()
            .collect()
    }
}

async fn create(ctx: &Ctx<'_>, trust: &Value) -> Result<()> {
    let name = ctx.spec.role();
    let tags = ctx.spec.tags().into_iter().map(|(k, v)| {
        Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("key and value set")
    });
    let request = ctx
        .clients
        .iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(trust.to_string())
        .description(format!(
            "wschat stack {}: the chat's Lambda functions",
            ctx.spec.prefix()
        ))
        .set_tags(Some(tags.collect()));
    created(request.send().await, "IAM CreateRole", &name)?;
    Ok(())
}

pub async fn ensure(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.role();
    let trust = ctx.spec.trust_policy();
    ctx.track(KIND, &name, async |task| {
        let Some(role) = find(ctx).await? else {
            if !ctx.dry_run {
                task.set("creating");
                create(ctx, &trust).await?;
            }
            return Ok(Change::Created);
        };
        if !ctx.spec.owns(&role_tags(&role)) {
            return Ok(Change::Foreign);
        }
        let diff = RoleDiff::between(&role, &trust);
        if diff.is_empty() {
            return Ok(Change::Unchanged);
        }
        if !ctx.dry_run {
            let request = ctx
                .clients
                .iam
                .update_assume_role_policy()
                .role_name(&name)
                .policy_document(trust.to_string());
            checked(request.send().await, "IAM UpdateAssumeRolePolicy", &name)?;
        }
        Ok(Change::Updated {
            fields: diff.fields(),
        })
    })
    .await
}

pub async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(Ownership::of(find(stack).await?, |r| {
        stack.spec.owns(&role_tags(r))
    }))
}

/// The role, and any inline policy still on it: IAM refuses to delete a
/// role that has one (the stack's own goes first, with [`super::policy::delete`]).
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
        .remove(KIND, &name, std::future::ready(Ok(owned)), async |_| {
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
        .map(|p| Resource::new(INLINE_POLICY, p, Change::Deleted))
        .collect();
    resources.push(role);
    Ok(resources)
}

/// The role, if it is still there and this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(match ownership(stack).await? {
        Ownership::Ours => vec![Leftover::new(KIND, stack.spec.role())],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_iam_policy_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            decode_document(encoded),
            Some(json!({"Version": "2012-10-17"}))
        );
    }

    #[test]
    fn a_document_is_compared_as_json_not_as_text() {
        let wanted = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]});
        let reordered = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D";
        assert!(same_document(reordered, &wanted));
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny"}]});
        assert!(!same_document(&other.to_string(), &wanted));
        assert!(!same_document("not json", &wanted));
    }

    #[test]
    fn the_role_differs_only_by_its_trust_policy() {
        let trust = json!({"Version": "2012-10-17"});
        let role = |doc: &str| {
            Role::builder()
                .path("/")
                .role_name("r")
                .role_id("id")
                .arn("arn:aws:iam::1:role/r")
                .create_date(aws_smithy_types::DateTime::from_secs(0))
                .assume_role_policy_document(doc)
                .build()
                .unwrap()
        };
        assert!(RoleDiff::between(&role(&trust.to_string()), &trust).is_empty());
        let diff = RoleDiff::between(&role("{}"), &trust);
        assert_eq!(diff.fields(), ["trust policy"]);
    }
}
