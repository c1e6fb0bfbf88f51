//! The `disconnect` Lambda function (`bootstrap` in its zip).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    wschat_lambdas::lambda::run().await
}
