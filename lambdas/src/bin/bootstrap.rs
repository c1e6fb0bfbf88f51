//! The chat's Lambda function: `bootstrap` in each of the three zips. One
//! binary serves `$connect`, `$disconnect` and messages alike, since each
//! event says which it is; one binary is also one link-time optimisation
//! instead of three.

// One thread: an environment gets a share of one vCPU (a whole one at
// 1,769 MB), and a delivery worker's wake-ups across threads cost more CPU
// than they bring (docs/benchmarks.md, "Rooms of any size").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    wschat_lambdas::lambda::run().await
}
