//! The chat's DynamoDB store against a real moto server, on the table deploy makes.

use crate::harness::connections_table;
use wschat_lambdas::dynamo::DynamoStore;
use wschat_lambdas::store::{list_all, Connection, ConnectionStore, Filter};
use wschat_test_support::moto::unique;

async fn store() -> DynamoStore {
    connections_table(&unique("conns")).await
}

#[tokio::test]
async fn put_get_delete_round_trip() {
    let store = store().await;
    let row = Connection::new(
        "R0oXAdfD0kwCH6w=",
        "Ada Lovelace",
        "lobby",
        1_700_000_000_123,
    );
    store.put(&row).await.unwrap();
    assert_eq!(
        store.get("R0oXAdfD0kwCH6w=").await.unwrap(),
        Some(row.clone())
    );
    assert_eq!(store.delete("R0oXAdfD0kwCH6w=").await.unwrap(), Some(row));
    assert_eq!(store.get("R0oXAdfD0kwCH6w=").await.unwrap(), None);
    assert_eq!(
        store.delete("R0oXAdfD0kwCH6w=").await.unwrap(),
        None,
        "absent is not an error"
    );
}

#[tokio::test]
async fn rooms_and_usernames_are_index_queries_and_paginate() {
    let store = store().await;
    for i in 0..23 {
        let room = if i % 4 == 0 { "ops" } else { "lobby" };
        store
            .put(&Connection::new(
                &format!("c{i:02}="),
                &format!("u{}", i % 3),
                room,
                0,
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .list(&Filter::Room("lobby".into()), cursor, 5)
            .await
            .unwrap();
        assert!(page.items.iter().all(|c| c.room == "lobby"));
        seen.extend(page.items.into_iter().map(|c| c.connection_id));
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(
        pages >= 4,
        "17 rows at 5 a page take several pages, got {pages}"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 17);
    assert_eq!(
        list_all(&store, &Filter::Username("u1".into()))
            .await
            .unwrap()
            .len(),
        8
    );
    assert_eq!(list_all(&store, &Filter::All).await.unwrap().len(), 23);
}

/// Many invocations spending one connection's bucket at once: exactly its
/// burst gets through, then one message per interval as time passes.
#[tokio::test]
async fn a_message_bucket_spends_atomically_under_concurrent_invocations() {
    let store = store().await;
    store
        .put(&Connection::new("b1=", "ada", "lobby", 0))
        .await
        .unwrap();
    let rate = wschat_lambdas::rate::Rate::per_second(5.0).unwrap();
    let now = 1_700_000_000_000;
    let spends = (0..25).map(|_| store.spend("b1=", &rate, now));
    let spent = futures_util::future::join_all(spends).await;
    let allowed = spent.iter().filter(|s| matches!(s, Ok(Some(_)))).count();
    assert_eq!(allowed, rate.burst as usize, "{spent:?}");
    assert_eq!(store.spend("b1=", &rate, now).await.unwrap(), None);
    let later = now + rate.interval_ms;
    assert!(store.spend("b1=", &rate, later).await.unwrap().is_some());
    assert_eq!(
        store.spend("gone=", &rate, now).await.unwrap(),
        None,
        "no row, no spend"
    );
    let row = store.get("b1=").await.unwrap().unwrap();
    assert_eq!(
        row.full_at,
        later + rate.limit(),
        "the row carries its bucket"
    );
}
