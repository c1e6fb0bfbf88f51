//! API Gateway's permission to invoke each function: one statement in the
//! function's resource policy, limited to this stack's API. It lives and
//! dies with its function.

use super::{Change, Ctx, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::Result;
use crate::spec::Function;

const KIND: &str = "permission";
const STATEMENT_ID: &str = "wschat-apigateway-invoke";

/// The source ARN API Gateway's invoke statement on function `name` is limited to, if present.
pub async fn find(stack: &Stack, name: &str) -> Result<Option<String>> {
    let request = stack.clients.lambda.get_policy().function_name(name);
    let policy =
        or_absent(request.send().await, "Lambda GetPolicy", name)?.and_then(|out| out.policy);
    Ok(policy.and_then(|policy| source_arn_of(&policy)))
}

/// The `AWS:SourceArn` condition of wschat's statement in a function's resource policy.
fn source_arn_of(policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    let statement = policy["Statement"]
        .as_array()?
        .iter()
        .find(|s| s["Sid"] == STATEMENT_ID)?;
    Some(
        statement["Condition"]["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// What differs between the statement and one limited to this stack's API.
#[derive(Debug, PartialEq, Eq)]
pub struct PermissionDiff {
    /// The source ARN the statement names now, when it is another.
    pub source_arn: Option<String>,
}

impl PermissionDiff {
    pub fn between(current_source: &str, wanted: &str) -> PermissionDiff {
        PermissionDiff {
            source_arn: (current_source != wanted).then(|| current_source.to_owned()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.source_arn.is_none()
    }

    pub fn fields(&self) -> Vec<String> {
        self.source_arn
            .iter()
            .map(|_| "source ARN".to_owned())
            .collect()
    }
}

/// API Gateway may invoke the function, from this API only.
pub async fn ensure(
    ctx: &Ctx<'_>,
    function: Function,
    api_id: Option<&str>,
    function_created: bool,
) -> Result<Resource> {
    let name = ctx.spec.function_name(function);
    ctx.track(KIND, format!("{name} ← apigateway"), async |_| {
        let Some(api_id) = api_id else {
            return Ok(Change::Created);
        };
        let wanted = ctx.spec.api_source_arn(api_id);
        let current = if function_created {
            None
        } else {
            find(ctx, &name).await?
        };
        let change = match current {
            None => Change::Created,
            Some(current) => {
                let diff = PermissionDiff::between(&current, &wanted);
                if diff.is_empty() {
                    return Ok(Change::Unchanged);
                }
                Change::Updated {
                    fields: diff.fields(),
                }
            }
        };
        if ctx.dry_run {
            return Ok(change);
        }
        let lambda = &ctx.clients.lambda;
        if matches!(change, Change::Updated { .. }) {
            let request = lambda
                .remove_permission()
                .function_name(&name)
                .statement_id(STATEMENT_ID);
            checked(request.send().await, "Lambda RemovePermission", &name)?;
        }
        let request = lambda
            .add_permission()
            .function_name(&name)
            .statement_id(STATEMENT_ID)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn(&wanted);
        created(request.send().await, "Lambda AddPermission", &name)?;
        Ok(change)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_differs_by_its_source_arn() {
        assert!(PermissionDiff::between("arn:a", "arn:a").is_empty());
        let diff = PermissionDiff::between("arn:old", "arn:a");
        assert_eq!(diff.fields(), ["source ARN"]);
        assert_eq!(diff.source_arn.as_deref(), Some("arn:old"));
    }

    #[test]
    fn the_permission_names_wschats_statement() {
        let wanted = "arn:aws:execute-api:eu-west-1:1:abc/*";
        let policy = serde_json::json!({"Statement": [
            {"Sid": "other", "Condition": {"ArnLike": {"AWS:SourceArn": "x"}}},
            {"Sid": STATEMENT_ID, "Condition": {"ArnLike": {"AWS:SourceArn": wanted}}}
        ]});
        assert_eq!(source_arn_of(&policy.to_string()).as_deref(), Some(wanted));
        assert_eq!(source_arn_of(r#"{"Statement": []}"#), None);
    }
}
