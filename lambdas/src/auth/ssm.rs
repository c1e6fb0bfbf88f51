//! SSM Parameter Store over its JSON API ([`crate::json_api`]). Token mode
//! needs four calls: the connect function reads its secret, the CLI creates,
//! rotates, tags and deletes it. The SSM SDK crate would add ~110 s of CPU
//! to every build and weight to every zip for that.

use crate::json_api::{JsonApi, SSM};

/// One region's SSM.
pub fn client(sdk: aws_config::SdkConfig, attempt_timeout: std::time::Duration) -> JsonApi {
    JsonApi::new(sdk, &SSM, attempt_timeout)
}

/// The signing secret of a deployed stack, as the connect function reads it.
pub struct SsmSecret {
    ssm: JsonApi,
    /// `name:version`, so a rotation (which redeploys with the new version)
    /// is never served a stale value by a warm container.
    selector: String,
}

impl SsmSecret {
    pub fn new(sdk: aws_config::SdkConfig, name: &str, version: Option<&str>) -> Self {
        let selector = match version {
            Some(v) => format!("{name}:{v}"),
            None => name.to_owned(),
        };
        SsmSecret {
            ssm: client(sdk, crate::http::TIMEOUT),
            selector,
        }
    }

    pub async fn read(&self) -> Result<Vec<u8>, String> {
        let input = serde_json::json!({ "Name": self.selector, "WithDecryption": true });
        let answer = self
            .ssm
            .call("GetParameter", &input)
            .await
            .map_err(|e| format!("could not read the token secret {}: {e}", self.selector))?;
        answer["Parameter"]["Value"]
            .as_str()
            .map(|v| v.as_bytes().to_vec())
            .ok_or_else(|| format!("the parameter {} holds no value", self.selector))
    }
}
