//! Leases and stale reads (docs/ARCHITECTURE.md, "Fencing"): recovery settles from the row it
//! reads under its lease, never from one read before, and two tasks of one replica never share a
//! lease owner. Both reproduced with pause points.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::rotation_support::{Rig, ROTATIONS};

/// A rotation whose executor is stopped at `step` and has lost its lease, as if it had died
/// there: its lease is taken from it in the database.
async fn stranded_at(
    rig: &Rig,
    id: &str,
    step: &'static str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let app = rig.server();
    let mut paused = app.engine.pauses.arm(step);
    let call = rig.spawn_call(
        Method::POST,
        &format!("{ROTATIONS}/{id}/rotate-secrets"),
        json!({}),
    );
    assert!(paused.reached().await, "the executor reached {step}");
    rig.app
        .db
        .execute(&format!(
            "UPDATE secret_rotations SET lease_owner = 'dead', lease_expires_at = 0 \
             WHERE id = '{id}'"
        ))
        .await;
    // The stranded executor goes on only when the test is over: it has nothing left to win.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        paused.release();
    });
    call
}

/// Runs recovery and the revocation queue until every token minted for `token_name` is in a
/// slot of the rotation or revoked, then checks the invariants.
async fn until_accounted(rig: &Rig, id: &str, secret: &str, token_name: &str) {
    let app = rig.server();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let _ = app.engine.recover().await;
        app.engine.work_revocations(None).await;
        let (slots, _) = rig.slots(id).await;
        let held: Vec<&str> = slots
            .iter()
            .filter_map(|s| s["serviceToken"].as_str())
            .collect();
        let strays: Vec<_> = rig
            .named(token_name)
            .into_iter()
            .filter(|t| t.state == 1 && !held.contains(&t.token_string.as_str()))
            .map(|t| t.id)
            .collect();
        if strays.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "live tokens outside the slots (I4): {strays:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.assert_invariants(id, secret, token_name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_never_commits_from_a_row_read_before_its_lease() {
    let rig = Rig::new().await;
    let id = rig.rotation("stale", "STALE").await;
    let app = rig.server();
    // An executor died with its token minted and persisted.
    let _stranded = stranded_at(&rig, &id, "persisted").await;
    // Recovery reads the rotation ... and before it takes the lease, a rotation commits.
    let mut read = app.engine.pauses.arm("recovery-read");
    let recovery = {
        let app = app.clone();
        tokio::spawn(async move { app.engine.recover().await })
    };
    assert!(read.reached().await, "recovery read the row");
    let rotated = rig.rotate(&id).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    read.release();
    recovery.await.expect("task").expect("recovery");
    // Every token minted is in a slot or revoked; the published one is live.
    until_accounted(&rig, &id, "STALE", "stale-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduler_tasks_of_one_replica_never_share_a_lease() {
    let rig = Rig::with(|a| {
        a.scheduler_poll_interval = Duration::from_millis(100);
        a.rotation_lease = Duration::from_secs(3);
    })
    .await;
    let id = rig.rotation("shared", "SHARED").await;
    let app = rig.server();
    let make_due = format!("UPDATE secret_rotations SET next_rotation_at = 0 WHERE id = '{id}'");
    // A scheduled run of the rotation stops with its new token minted.
    let mut first = app.engine.pauses.arm("issued");
    rig.app.db.execute(&make_due).await;
    assert!(first.reached().await, "the scheduler's first task minted");
    // Its lease lapses (as a stall longer than the lease would let it); the same replica's
    // scheduler claims the rotation again with a second task.
    let mut second = app.engine.pauses.arm("lease");
    rig.app
        .db
        .execute(&format!(
            "UPDATE secret_rotations SET lease_expires_at = 0 WHERE id = '{id}'"
        ))
        .await;
    assert!(second.reached().await, "a second task claimed the rotation");
    // The second task rotates and stops right after its commit (which hands its lease back);
    // then the first one, with its row read before that commit, tries to commit too.
    let mut committed = app.engine.pauses.arm("committed");
    second.release();
    assert!(committed.reached().await, "the second task committed");
    first.release();
    until_accounted(&rig, &id, "SHARED", "shared-token").await;
    committed.release();
    until_accounted(&rig, &id, "SHARED", "shared-token").await;
    assert_eq!(rig.rotate(&id).await.status, 200, "the rotation works on");
    until_accounted(&rig, &id, "SHARED", "shared-token").await;
}
