//! The role's inline least-privilege policy. It names the API, so deploy
//! writes it once the API's id is known.

use super::role::same_document;
use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::{checked, or_absent};
use crate::error::Result;
use serde_json::Value;

pub const KIND: &str = "iam policy";

/// The policy document as IAM returns it (URL-encoded), if the policy exists.
pub async fn find(stack: &Stack) -> Result<Option<String>> {
    let name = stack.spec.policy_name();
    let request = stack
        .clients
        .iam
        .get_role_policy()
        .role_name(stack.spec.role())
        .policy_name(&name);
    let out = or_absent(request.send().await, "IAM GetRolePolicy", &name)?;
    Ok(out.map(|o| o.policy_document))
}

/// What differs between the policy and the one the stack needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PolicyDiff {
    pub statements: bool,
}

impl PolicyDiff {
    pub fn between(document: &str, wanted: &Value) -> PolicyDiff {
        PolicyDiff {
            statements: !same_document(document, wanted),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == PolicyDiff::default()
    }

    pub fn fields(&self) -> Vec<String> {
        self.statements
            .then(|| "statements".to_owned())
            .into_iter()
            .collect()
    }
}

async fn put(ctx: &Ctx<'_>, wanted: &Value) -> Result<()> {
    let name = ctx.spec.policy_name();
    let request = ctx
        .clients
        .iam
        .put_role_policy()
        .role_name(ctx.spec.role())
        .policy_name(&name)
        .policy_document(wanted.to_string());
    checked(request.send().await, "IAM PutRolePolicy", &name)?;
    Ok(())
}

/// `api_id` is `None` only in a dry run before the API exists: the policy
/// is written once it does. A role this run created has no policy to read.
pub async fn ensure(ctx: &Ctx<'_>, api_id: Option<&str>, role_created: bool) -> Result<Resource> {
    let name = ctx.spec.policy_name();
    ctx.track(KIND, &name, async |task| {
        let Some(api_id) = api_id else {
            return Ok(Change::Created);
        };
        let wanted = ctx.spec.access_policy(api_id);
        let current = if role_created { None } else { find(ctx).await? };
        let change = match current {
            None => Change::Created,
            Some(document) => {
                let diff = PolicyDiff::between(&document, &wanted);
                if diff.is_empty() {
                    return Ok(Change::Unchanged);
                }
                Change::Updated {
                    fields: diff.fields(),
                }
            }
        };
        if !ctx.dry_run {
            task.set("writing");
            put(ctx, &wanted).await?;
        }
        Ok(change)
    })
    .await
}

/// The stack's policy, if its role is this stack's (the role's delete takes
/// any other inline policy with it).
pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.policy_name();
    let ours = super::role::ownership(ctx).await? == Ownership::Ours;
    let present = ours && find(ctx).await?.is_some();
    if !present {
        return Ok(Vec::new());
    }
    if !ctx.dry_run {
        let request = ctx
            .clients
            .iam
            .delete_role_policy()
            .role_name(ctx.spec.role())
            .policy_name(&name);
        or_absent(request.send().await, "IAM DeleteRolePolicy", &name)?;
    }
    Ok(vec![Resource::new(KIND, name, Change::Deleted)])
}

/// The policy, if it is still on this stack's role.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    let ours = super::role::ownership(stack).await? == Ownership::Ours;
    Ok(if ours && find(stack).await?.is_some() {
        vec![Leftover::new(KIND, stack.spec.policy_name())]
    } else {
        Vec::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_policy_differs_by_its_statements_read_as_json() {
        let wanted = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]});
        let reordered = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D";
        assert!(PolicyDiff::between(reordered, &wanted).is_empty());
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny"}]});
        assert_eq!(
            PolicyDiff::between(&other.to_string(), &wanted).fields(),
            ["statements"]
        );
    }
}
