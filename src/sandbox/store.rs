//! The sandbox keeps connections in memory, or in a DynamoDB table (`--dynamodb-endpoint`).

use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::store::{EitherStore, InMemoryStore};

pub type SandboxStore = EitherStore<InMemoryStore, DynamoStore>;

pub fn describe(store: &SandboxStore) -> &'static str {
    match store {
        EitherStore::Left(_) => "in memory",
        EitherStore::Right(_) => "in DynamoDB",
    }
}
