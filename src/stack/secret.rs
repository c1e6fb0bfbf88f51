//! Token mode's signing secret: an SSM SecureString parameter only this
//! stack's connect function may read. Other modes have none, and a stack
//! that leaves token mode has its secret deleted.
//!
//! SSM is reached through the chat's own small signed client
//! ([`wschat_lambdas::json_api`]), with the CLI's retries and timeout
//! ([`crate::aws::json`]).

use super::{Change, Ctx, Leftover, Ownership, Resource, Stack};
use crate::aws::json;
use crate::error::{CliError, Result};
use crate::spec::StackSpec;
use serde_json::{json, Value};
use std::collections::HashMap;
use wschat_lambdas::auth::AuthMode;
use wschat_lambdas::json_api::{ApiError, SSM};

const KIND: &str = "secret";

/// A fresh secret: 32 random bytes from the OS, base64url. The HMAC key is
/// the parameter's text itself, so a backend can use the value as it reads it.
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| CliError::failed("the system's random number generator failed"))?;
    Ok(aws_smithy_types::base64::encode(bytes)
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned())
}

/// One SSM call on the stack's secret, with the CLI's retries and timeout.
async fn call(stack: &Stack, operation: &str, input: Value) -> Result<Result<Value, ApiError>> {
    let name = stack.spec.token_parameter();
    json::call(&stack.clients, &SSM, operation, &input, &name).await
}

fn failed(operation: &str, name: &str, e: &ApiError) -> CliError {
    json::failed(&SSM, operation, name, e)
}

/// The answer, with `missing` as `None` and anything else as an error.
async fn call_or(
    stack: &Stack,
    operation: &str,
    input: Value,
    missing: &str,
) -> Result<Option<Value>> {
    match call(stack, operation, input).await? {
        Ok(answer) => Ok(Some(answer)),
        Err(e) if e.code == missing => Ok(None),
        Err(e) => Err(failed(operation, &stack.spec.token_parameter(), &e)),
    }
}

/// The parameter as SSM has it: its version and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub version: Option<i64>,
    pub tags: HashMap<String, String>,
}

/// The parameter's current version (`Some(None)`: it exists, with no version said).
async fn version(stack: &Stack) -> Result<Option<Option<i64>>> {
    let input = json!({ "Name": stack.spec.token_parameter() });
    let answer = call_or(stack, "GetParameter", input, "ParameterNotFound").await?;
    Ok(answer.map(|a| a["Parameter"]["Version"].as_i64()))
}

/// The stack's parameter, if it exists.
pub async fn find(stack: &Stack) -> Result<Option<Parameter>> {
    let Some(version) = version(stack).await? else {
        return Ok(None);
    };
    let input = json!({ "ResourceType": "Parameter", "ResourceId": stack.spec.token_parameter() });
    let answer = call_or(stack, "ListTagsForResource", input, "InvalidResourceId").await?;
    let tags = answer
        .and_then(|a| a["TagList"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Some((
                t["Key"].as_str()?.to_owned(),
                t["Value"].as_str()?.to_owned(),
            ))
        })
        .collect();
    Ok(Some(Parameter { version, tags }))
}

/// What differs between the parameter and what the stack's auth mode needs.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretDiff {
    /// As needed: present in token mode, absent otherwise.
    None,
    /// Token mode, and no secret yet.
    Missing,
    /// Token mode, and a new secret was asked for (`--rotate-secret`).
    Rotate,
    /// The stack left token mode: its secret must not outlive it.
    Unneeded,
    /// A parameter of this name that is not this stack's.
    Foreign,
}

impl SecretDiff {
    pub fn between(found: Option<&Parameter>, spec: &StackSpec, rotate: bool) -> SecretDiff {
        let token_mode = spec.settings.auth.mode == AuthMode::Token;
        match found {
            Some(p) if !spec.owns(&p.tags) => {
                if token_mode {
                    SecretDiff::Foreign
                } else {
                    SecretDiff::None
                }
            }
            Some(_) if !token_mode => SecretDiff::Unneeded,
            Some(_) if rotate => SecretDiff::Rotate,
            Some(_) => SecretDiff::None,
            None if token_mode => SecretDiff::Missing,
            None => SecretDiff::None,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == SecretDiff::None
    }

    pub fn fields(&self) -> Vec<String> {
        match self {
            SecretDiff::Rotate => vec!["rotated: tokens minted before are refused".to_owned()],
            _ => Vec::new(),
        }
    }
}

/// Writes a new secret; `tags` on create, overwrite on rotation. Returns the new version.
async fn put(stack: &Stack, create: bool) -> Result<Option<i64>> {
    let mut input = json!({
        "Name": stack.spec.token_parameter(),
        "Value": new_secret()?,
        "Type": "SecureString",
        "Description": "wschat token-mode signing secret (HS256); rotate with `wschat deploy --rotate-secret`",
    });
    if create {
        let tags: Vec<Value> = stack
            .spec
            .tags()
            .into_iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect();
        input["Tags"] = tags.into();
    } else {
        input["Overwrite"] = true.into();
    }
    match call_or(stack, "PutParameter", input, "ParameterAlreadyExists").await? {
        Some(answer) => Ok(answer["Version"].as_i64()),
        // A lost reply's retry: the first attempt's secret stands.
        None => Ok(version(stack).await?.flatten()),
    }
}

/// The secret as token mode needs it: created once, replaced on `rotate`,
/// deleted when the stack leaves token mode. Returns the report (`None` when
/// there is nothing to say) and the version the connect function must read
/// (`None` outside token mode, or in a dry run that would create it).
pub async fn ensure(ctx: &Ctx<'_>, rotate: bool) -> Result<(Option<Resource>, Option<i64>)> {
    let name = ctx.spec.token_parameter();
    let token_mode = ctx.spec.settings.auth.mode == AuthMode::Token;
    if rotate && !token_mode {
        return Err(CliError::usage(
            "--rotate-secret applies to --auth token only",
        ));
    }
    let found = find(ctx).await?;
    let diff = SecretDiff::between(found.as_ref(), &ctx.spec, rotate);
    if !token_mode {
        return match diff {
            SecretDiff::Unneeded => Ok((delete(ctx).await?.pop(), None)),
            _ => Ok((None, None)),
        };
    }
    let mut version = found.as_ref().and_then(|p| p.version);
    let resource = ctx
        .track(KIND, &name, async |task| match diff {
            SecretDiff::Foreign => Err(CliError::failed(format!(
                "the SSM parameter {name} exists but is not tagged as this stack's"
            ))
            .with_hint("delete it, or deploy under another --name or --stage")),
            SecretDiff::Missing => {
                if !ctx.dry_run {
                    task.set("creating");
                    version = put(ctx, true).await?;
                }
                Ok(Change::Created)
            }
            SecretDiff::Rotate => {
                if !ctx.dry_run {
                    task.set("rotating");
                    version = put(ctx, false).await?;
                }
                Ok(Change::Updated {
                    fields: diff.fields(),
                })
            }
            SecretDiff::None | SecretDiff::Unneeded => Ok(Change::Unchanged),
        })
        .await?;
    Ok((Some(resource), version))
}

/// The secret's value, for minting tokens (`wschat token`). Never printed.
pub async fn read(stack: &Stack) -> Result<String> {
    let name = stack.spec.token_parameter();
    let input = json!({ "Name": name, "WithDecryption": true });
    let answer = call_or(stack, "GetParameter", input, "ParameterNotFound").await?;
    answer
        .and_then(|a| a["Parameter"]["Value"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            CliError::failed(format!("{} has no token secret ({name} does not exist)", stack.spec.prefix()))
                .with_hint("tokens are for stacks deployed with --auth token: run `wschat deploy --auth token`")
        })
}

async fn ownership(stack: &Stack) -> Result<Ownership> {
    Ok(Ownership::of(find(stack).await?, |p| {
        stack.spec.owns(&p.tags)
    }))
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Vec<Resource>> {
    let name = ctx.spec.token_parameter();
    let removed = ctx.remove(KIND, &name, ownership(ctx), async |_| {
        let input = json!({ "Name": name });
        call_or(ctx, "DeleteParameter", input, "ParameterNotFound").await?;
        Ok(())
    });
    Ok(vec![removed.await?])
}

/// The parameter, if it is still there and this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<Leftover>> {
    Ok(match ownership(stack).await? {
        Ownership::Ours => vec![Leftover::new(KIND, stack.spec.token_parameter())],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::spec;

    fn parameter(owner: &StackSpec) -> Parameter {
        Parameter {
            version: Some(3),
            tags: owner.tags(),
        }
    }

    #[test]
    fn the_secret_follows_token_mode() {
        let mut token = spec();
        token.settings.auth.mode = AuthMode::Token;
        let open = spec();
        let ours = parameter(&token);
        assert_eq!(
            SecretDiff::between(None, &token, false),
            SecretDiff::Missing
        );
        assert_eq!(
            SecretDiff::between(Some(&ours), &token, false),
            SecretDiff::None
        );
        assert_eq!(
            SecretDiff::between(Some(&ours), &token, true),
            SecretDiff::Rotate
        );
        assert_eq!(
            SecretDiff::between(Some(&ours), &open, false),
            SecretDiff::Unneeded
        );
        assert_eq!(SecretDiff::between(None, &open, false), SecretDiff::None);
        let theirs = Parameter {
            version: Some(1),
            tags: HashMap::new(),
        };
        assert_eq!(
            SecretDiff::between(Some(&theirs), &token, false),
            SecretDiff::Foreign
        );
        assert_eq!(
            SecretDiff::between(Some(&theirs), &open, false),
            SecretDiff::None,
            "another stack's parameter is never deleted"
        );
        assert!(SecretDiff::Rotate.fields()[0].starts_with("rotated"));
        assert!(SecretDiff::None.is_empty() && !SecretDiff::Missing.is_empty());
    }
}
