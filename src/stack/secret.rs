//! Token mode's signing secret: an SSM SecureString parameter only this
//! stack's connect function may read. Other modes have none, and a stack
//! that leaves token mode has its secret deleted.

use super::{Change, Ctx, Ownership, Resource, Stack};
use crate::aws::{checked, created, or_absent};
use crate::error::{CliError, Result};
use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};
use wschat_lambdas::auth::AuthMode;

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

/// The parameter's current version, or `None` when there is none.
async fn version(stack: &Stack) -> Result<Option<i64>> {
    let name = stack.spec.token_parameter();
    let request = stack.clients.ssm.get_parameter().name(&name);
    let answer = or_absent(request.send().await, "SSM GetParameter", &name)?;
    Ok(answer.and_then(|a| a.parameter).map(|p| p.version))
}

async fn ownership(stack: &Stack) -> Result<Ownership> {
    if version(stack).await?.is_none() {
        return Ok(Ownership::Absent);
    }
    let name = stack.spec.token_parameter();
    let request = stack
        .clients
        .ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(&name);
    let tags = checked(request.send().await, "SSM ListTagsForResource", &name)?;
    let tags = tags
        .tag_list()
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    Ok(if stack.spec.owns(&tags) {
        Ownership::Ours
    } else {
        Ownership::Foreign
    })
}

/// The secret as token mode needs it: created once, replaced on `rotate`.
/// Returns the report and the version the connect function must read
/// (`None` outside token mode, or in a dry run that would create it).
pub async fn ensure(ctx: &Ctx<'_>, rotate: bool) -> Result<(Option<Resource>, Option<i64>)> {
    let name = ctx.spec.token_parameter();
    if ctx.spec.settings.auth.mode != AuthMode::Token {
        if rotate {
            return Err(CliError::usage(
                "--rotate-secret applies to --auth token only",
            ));
        }
        // Left token mode: its secret must not outlive it.
        return match ownership(ctx).await? {
            Ownership::Ours => Ok((Some(delete(ctx).await?), None)),
            _ => Ok((None, None)),
        };
    }
    let ssm = &ctx.clients.ssm;
    let mut version = None;
    let resource = ctx
        .track(KIND, &name, async |task| {
            let put = || {
                ssm.put_parameter()
                    .name(&name)
                    .r#type(ParameterType::SecureString)
                    .description("wschat token-mode signing secret (HS256); rotate with `wschat deploy --rotate-secret`")
            };
            match ownership(ctx).await? {
                Ownership::Foreign => Err(CliError::failed(format!(
                    "the SSM parameter {name} exists but is not tagged as this stack's"
                ))
                .with_hint("delete it, or deploy under another --name or --stage")),
                Ownership::Absent => {
                    if !ctx.dry_run {
                        task.set("creating");
                        let tags = ctx.spec.tags().into_iter().map(|(k, v)| {
                            Tag::builder().key(k).value(v).build().expect("key and value are set")
                        });
                        let request = put().value(new_secret()?).set_tags(Some(tags.collect()));
                        version = match created(request.send().await, "SSM PutParameter", &name)? {
                            Some(answer) => Some(answer.version),
                            // A lost reply's retry: the first attempt's secret stands.
                            None => self::version(ctx).await?,
                        };
                    }
                    Ok(Change::Created)
                }
                Ownership::Ours if rotate => {
                    if !ctx.dry_run {
                        task.set("rotating");
                        let request = put().value(new_secret()?).overwrite(true);
                        let answer = checked(request.send().await, "SSM PutParameter", &name)?;
                        version = Some(answer.version);
                    }
                    Ok(Change::Updated {
                        fields: vec!["rotated: tokens minted before are refused".to_owned()],
                    })
                }
                Ownership::Ours => {
                    version = self::version(ctx).await?;
                    Ok(Change::Unchanged)
                }
            }
        })
        .await?;
    Ok((Some(resource), version))
}

/// The secret's value, for minting tokens (`wschat token`). Never printed.
pub async fn read(stack: &Stack) -> Result<String> {
    let name = stack.spec.token_parameter();
    let request = stack
        .clients
        .ssm
        .get_parameter()
        .name(&name)
        .with_decryption(true);
    let answer = or_absent(request.send().await, "SSM GetParameter", &name)?;
    answer
        .and_then(|a| a.parameter)
        .and_then(|p| p.value)
        .ok_or_else(|| {
            CliError::failed(format!("{} has no token secret ({name} does not exist)", stack.spec.prefix()))
                .with_hint("tokens are for stacks deployed with --auth token: run `wschat deploy --auth token`")
        })
}

pub async fn delete(ctx: &Ctx<'_>) -> Result<Resource> {
    let name = ctx.spec.token_parameter();
    ctx.remove(KIND, &name, ownership(ctx), async |_| {
        let request = ctx.clients.ssm.delete_parameter().name(&name);
        or_absent(request.send().await, "SSM DeleteParameter", &name)?;
        Ok(())
    })
    .await
}

/// The parameter, if it is still there and this stack's.
pub async fn leftovers(stack: &Stack) -> Result<Vec<String>> {
    Ok(match ownership(stack).await? {
        Ownership::Ours => vec![format!("{KIND} {}", stack.spec.token_parameter())],
        _ => vec![],
    })
}
