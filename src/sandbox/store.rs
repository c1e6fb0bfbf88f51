//! The sandbox keeps connections in memory, or in a DynamoDB table (`--dynamodb-endpoint`).

use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::store::{Connection, ConnectionStore, Filter, InMemoryStore, Page, StoreError};

pub enum SandboxStore {
    Memory(InMemoryStore),
    Dynamo(DynamoStore),
}

impl SandboxStore {
    pub fn describe(&self) -> &'static str {
        match self {
            SandboxStore::Memory(_) => "in memory",
            SandboxStore::Dynamo(_) => "in DynamoDB",
        }
    }
}

impl ConnectionStore for SandboxStore {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        match self {
            SandboxStore::Memory(s) => s.put(c).await,
            SandboxStore::Dynamo(s) => s.put(c).await,
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        match self {
            SandboxStore::Memory(s) => s.get(id).await,
            SandboxStore::Dynamo(s) => s.get(id).await,
        }
    }

    async fn delete(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        match self {
            SandboxStore::Memory(s) => s.delete(id).await,
            SandboxStore::Dynamo(s) => s.delete(id).await,
        }
    }

    async fn list(
        &self,
        filter: &Filter,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        match self {
            SandboxStore::Memory(s) => s.list(filter, cursor, limit).await,
            SandboxStore::Dynamo(s) => s.list(filter, cursor, limit).await,
        }
    }
}
