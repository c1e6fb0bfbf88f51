//! The tests' moto answers as AWS would to a request that breaks AWS's own
//! model (botocore's `service-2.json`): moto alone accepts them all.

use wschat_test_support::moto::{unique, Moto};

#[tokio::test]
async fn requests_that_break_the_aws_model_are_refused_as_aws_refuses_them() {
    let sdk = Moto::shared().sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let err = dynamodb.list_tables().limit(0).send().await.unwrap_err();
    let message = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&err));
    assert!(
        message.contains("ValidationException") && message.contains("under the minimum 1"),
        "{message}"
    );

    let iam = aws_sdk_iam::Client::new(&sdk);
    let err = iam
        .get_role()
        .role_name("has a space")
        .send()
        .await
        .unwrap_err();
    let message = format!("{}", aws_sdk_iam::error::DisplayErrorContext(&err));
    assert!(
        message.contains("ValidationError") && message.contains("does not match"),
        "{message}"
    );

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let err = lambda
        .update_function_configuration()
        .function_name(unique("fn"))
        .memory_size(100)
        .send()
        .await
        .unwrap_err();
    let message = format!("{}", aws_sdk_lambda::error::DisplayErrorContext(&err));
    assert!(message.contains("under the minimum 128"), "{message}");

    // A valid request goes through to moto (which says the table is not there).
    let err = dynamodb
        .describe_table()
        .table_name(unique("absent"))
        .send()
        .await
        .unwrap_err();
    assert!(err
        .as_service_error()
        .is_some_and(|e| e.is_resource_not_found_exception()));
}
