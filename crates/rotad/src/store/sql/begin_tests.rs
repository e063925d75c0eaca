//! How a write transaction begins on SQLite (docs/ARCHITECTURE.md, "SQLite's write
//! transactions"): two replicas write to one file, and a transaction that read before it wrote
//! must not fail because the other replica committed in between.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Sqlite};

use super::Dialect;

async fn open(path: &std::path::Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("open the database")
}

#[tokio::test]
async fn a_transaction_that_read_first_still_writes_after_another_replica_commits() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("rotad.db");
    let mut a = open(&path).await;
    let mut b = open(&path).await;
    sqlx::query("CREATE TABLE t (n INTEGER)")
        .execute(&mut a)
        .await
        .expect("table");

    // Replica A's transaction reads first, as the store's writes do (a row to check, then
    // its update).
    let mut tx = a.begin_with(Sqlite::BEGIN).await.expect("begin");
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut *tx)
        .await
        .expect("read");

    // Replica B writes meanwhile. With a deferred BEGIN it commits at once and A's snapshot
    // is stale; with BEGIN IMMEDIATE it waits (busy timeout) until A commits.
    let other = tokio::spawn(async move {
        sqlx::query("INSERT INTO t (n) VALUES (2)")
            .execute(&mut b)
            .await
            .map(|_| ())
    });
    let other_first = tokio::time::timeout(Duration::from_millis(300), async {
        while !other.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .is_ok();

    let write = sqlx::query("INSERT INTO t (n) VALUES (1)")
        .execute(&mut *tx)
        .await;
    assert!(
        write.is_ok(),
        "A's write fails after B committed first ({other_first}): {write:?}"
    );
    tx.commit().await.expect("A commits");
    other
        .await
        .expect("task")
        .expect("B's write goes in after A's");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&mut a)
        .await
        .expect("count");
    assert_eq!(n, 2);
}
