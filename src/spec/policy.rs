//! The IAM documents of the functions' role: who may assume it, and the least it may do.

use super::{Function, StackSpec};
use serde_json::{json, Value};
use wschat_lambdas::auth::AuthMode;
use wschat_lambdas::dynamo::{ROOM_INDEX, ROOM_SHARD_INDEX, USERNAME_INDEX};
use wschat_lambdas::history::ID_INDEX;

impl StackSpec {
    /// Lambda, and only Lambda, may assume the role.
    pub fn trust_policy(&self) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "lambda.amazonaws.com" },
                "Action": "sts:AssumeRole"
            }]
        })
    }

    /// Least privilege: these tables and their indexes, this stage's `@connections`,
    /// its own delivery function and dead-letter queue, these log groups.
    pub fn access_policy(&self, api_id: &str) -> Value {
        let table = self.table_arn();
        let messages = self.messages_table_arn();
        let log_streams: Vec<String> = Function::ALL
            .iter()
            .map(|f| {
                format!(
                    "{}:*",
                    self.arn("logs", &format!("log-group:{}", self.log_group(*f)))
                )
            })
            .collect();
        let mut policy = json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ConnectionsTable",
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"],
                    "Resource": [
                        table.clone(),
                        format!("{table}/index/{ROOM_INDEX}"),
                        format!("{table}/index/{ROOM_SHARD_INDEX}"),
                        format!("{table}/index/{USERNAME_INDEX}")
                    ]
                },
                {
                    "Sid": "MessagesTable",
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:Query"],
                    "Resource": [messages.clone(), format!("{messages}/index/{ID_INDEX}")]
                },
                {
                    "Sid": "PostToConnections",
                    "Effect": "Allow",
                    "Action": "execute-api:ManageConnections",
                    "Resource": self.arn("execute-api", &format!("{api_id}/{}/*/@connections/*", self.id.stage))
                },
                {
                    "Sid": "InvokeDelivery",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": self.function_arn(Function::Deliver)
                },
                {
                    "Sid": "DeadLetters",
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": self.dead_letter_queue_arn()
                },
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": log_streams
                }
            ]
        });
        if self.settings.auth.mode == AuthMode::Token {
            // This one parameter, read-only; the AWS managed key `aws/ssm`
            // decrypts for any principal that may read the parameter.
            let statements = policy["Statement"].as_array_mut().expect("built above");
            statements.push(json!({
                "Sid": "TokenSecret",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": self.token_parameter_arn()
            }));
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::spec;

    #[test]
    fn the_access_policy_names_no_wildcard_resource() {
        let policy = spec().access_policy("abc123");
        let text = policy.to_string();
        for statement in policy["Statement"].as_array().unwrap() {
            let resources = match &statement["Resource"] {
                serde_json::Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            };
            for r in resources {
                let r = r.as_str().unwrap();
                assert!(r.starts_with("arn:aws:"), "{r}");
                assert_ne!(r, "*");
            }
        }
        assert!(text
            .contains("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/@connections/*"));
        assert!(text.contains("table/chat-prod-connections/index/room-index"));
        assert!(text.contains(
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/chat-prod-message:*"
        ));
        assert!(!text.contains("FullAccess"));
        assert!(text.contains("arn:aws:lambda:eu-west-1:123456789012:function:chat-prod-deliver\""));
        assert!(text.contains("arn:aws:sqs:eu-west-1:123456789012:chat-prod-deliver-failed\""));
    }

    /// Every DynamoDB call the functions' code makes on a table is one its
    /// statement allows: read from the code itself, so a new call cannot
    /// ship without its permission (AWS would refuse it; moto does not).
    #[test]
    fn the_functions_may_make_every_dynamodb_call_their_code_makes() {
        let policy = spec().access_policy("abc123");
        let allowed = |sid: &str| -> Vec<String> {
            let statement = policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("a {sid} statement"));
            statement["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        };
        let calls = [
            (
                "ConnectionsTable",
                include_str!("../../lambdas/src/dynamo.rs"),
            ),
            (
                "MessagesTable",
                include_str!("../../lambdas/src/dynamo_history.rs"),
            ),
        ];
        for (sid, code) in calls {
            let allowed = allowed(sid);
            for (call, action) in [
                (".put_item()", "PutItem"),
                (".get_item()", "GetItem"),
                (".update_item()", "UpdateItem"),
                (".delete_item()", "DeleteItem"),
                (".query()", "Query"),
                (".scan()", "Scan"),
            ] {
                if code.contains(call) {
                    let action = format!("dynamodb:{action}");
                    assert!(allowed.contains(&action), "{sid} lacks {action}");
                }
            }
        }
    }

    #[test]
    fn token_mode_may_read_its_own_secret_and_nothing_else() {
        let open = spec().access_policy("abc123").to_string();
        assert!(!open.contains("ssm:"), "open mode reads no parameter");
        let mut token = spec();
        token.settings.auth.mode = wschat_lambdas::auth::AuthMode::Token;
        let policy = token.access_policy("abc123");
        let statement = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "TokenSecret")
            .expect("a statement for the secret");
        assert_eq!(statement["Action"], "ssm:GetParameter");
        assert_eq!(
            statement["Resource"],
            "arn:aws:ssm:eu-west-1:123456789012:parameter/wschat/chat/prod/token-secret"
        );
    }
}
