//! The chat's Lambda function: `bootstrap` in each of the three zips. One
//! binary serves `$connect`, `$disconnect` and messages alike, since each
//! event says which it is; one binary is also one link-time optimisation
//! instead of three.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    wschat_lambdas::lambda::run().await
}
