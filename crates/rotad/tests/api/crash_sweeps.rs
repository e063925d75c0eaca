//! Sweeps after a SIGKILL while dbt's create is in flight: what is already at dbt is revoked
//! within seconds of the restart, and a create that lands after the restart is revoked once
//! the late-create window has passed (docs/ARCHITECTURE.md, "Sweeps").

use std::time::{Duration, Instant};

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::json;

use crate::helpers::TestDb;
use crate::process::{attach, spawn_rotad, wait_ready, Process};
use crate::rotation_support::{minted_as, Rig, ROTATIONS};
use crate::webhook_sink::Sink;

/// Live tokens minted for `token_name` that no slot of rotation `id` holds.
async fn strays(rig: &Rig, id: &str, token_name: &str) -> Vec<String> {
    let (slots, _) = rig.slots(id).await;
    let held: Vec<&str> = slots
        .iter()
        .filter_map(|s| s["serviceToken"].as_str())
        .collect();
    rig.emu
        .tokens()
        .into_iter()
        .filter(|t| minted_as(&t.name, token_name) && t.state == 1)
        .filter(|t| !held.contains(&t.token_string.as_str()))
        .map(|t| t.name)
        .collect()
}

/// Sends a rotation to `process` and leaves it hanging.
fn rotate_in_background(rig: &Rig, process: &Process, id: &str) -> tokio::task::JoinHandle<()> {
    let req = rig
        .app
        .http
        .post(format!("{}{ROTATIONS}/{id}/rotate-secrets", process.base))
        .bearer_auth(&rig.app.token)
        .json(&json!({}));
    tokio::spawn(async move {
        let _ = req.send().await;
    })
}

/// Waits for `marker` on the process's stderr.
async fn wait_for_line(process: &Process, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match process.lines.try_recv() {
            Ok(line) if line.contains(marker) => return,
            Ok(_) => {}
            Err(_) => {
                assert!(Instant::now() < deadline, "never saw {marker:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_before_a_kill_is_revoked_within_seconds_and_a_late_one_after_the_window() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let first = spawn_rotad(&db, &key, &[]);
    wait_ready(&first.base).await;
    let mut rig = attach(db, &key, &first.base).await;
    let id = rig.rotation("minted", "MINTED").await;
    drop(first);

    // Killed with the new token minted at dbt and not yet persisted anywhere.
    let mut paused = spawn_rotad(&rig.app.db, &key, &[("ROTAD_TEST_PAUSE_AT", "issued")]);
    wait_ready(&paused.base).await;
    let hanging = rotate_in_background(&rig, &paused, &id);
    wait_for_line(&paused, "paused at issued").await;
    paused.kill();
    hanging.abort();
    // With the default request timeout the late window is 35 s: the sweep may not wait for it.
    let restarted = spawn_rotad(&rig.app.db, &key, &[("ROTAD_DBT_REQUEST_TIMEOUT", "15s")]);
    wait_ready(&restarted.base).await;
    rig.app.base = restarted.base.clone();
    let since_restart = Instant::now();
    assert_eq!(strays(&rig, &id, "minted-token").await.len(), 1);
    while !strays(&rig, &id, "minted-token").await.is_empty() {
        assert!(
            since_restart.elapsed() < Duration::from_secs(10),
            "the minted token outlived the restart by 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.assert_invariants(&id, "MINTED", "minted-token").await;
    drop(restarted);

    // Killed while dbt still works on the create; it lands after the restart.
    let creates = rig.emu.calls(Operation::TokenCreate);
    rig.emu
        .inject(Fault::delay(Operation::TokenCreate, Duration::from_secs(4)));
    let mut doomed = spawn_rotad(&rig.app.db, &key, &[]);
    wait_ready(&doomed.base).await;
    let hanging = rotate_in_background(&rig, &doomed, &id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.emu.calls(Operation::TokenCreate) == creates {
        assert!(Instant::now() < deadline, "the create never reached dbt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    hanging.abort();
    let minted_before = rig.named("minted-token").len();
    let restarted = spawn_rotad(&rig.app.db, &key, &[]);
    wait_ready(&restarted.base).await;
    rig.app.base = restarted.base.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.named("minted-token").len() == minted_before {
        assert!(Instant::now() < deadline, "the late create never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The late window is 2 x the 2 s request timeout + 5 s from the intent's start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !strays(&rig, &id, "minted-token").await.is_empty() {
        assert!(Instant::now() < deadline, "the late token was never swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.assert_invariants(&id, "MINTED", "minted-token").await;
    assert_eq!(rig.rotate(&id).await.status, 200, "the rotation works on");
    rig.assert_invariants(&id, "MINTED", "minted-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_right_after_a_commit_keeps_its_audit_entry_and_webhook() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let first = spawn_rotad(&db, &key, &[]);
    wait_ready(&first.base).await;
    let mut rig = attach(db, &key, &first.base).await;
    let id = rig.rotation("recorded", "RECORDED").await;
    let sink = Sink::start().await;
    sink.subscribe(&rig.app, &rig.project, "/").await;
    drop(first);

    let mut paused = spawn_rotad(&rig.app.db, &key, &[("ROTAD_TEST_PAUSE_AT", "committed")]);
    wait_ready(&paused.base).await;
    let hanging = rotate_in_background(&rig, &paused, &id);
    wait_for_line(&paused, "paused at committed").await;
    paused.kill();
    hanging.abort();

    let restarted = spawn_rotad(&rig.app.db, &key, &[]);
    wait_ready(&restarted.base).await;
    rig.app.base = restarted.base.clone();
    assert_eq!(rig.get(&id).await.body["secretRotation"]["activeIndex"], 1);
    let audit = rig
        .app
        .get("/api/v1/organization/audit-logs?eventType=secret-rotation-rotate-secrets&limit=100")
        .await;
    let successes = audit.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["event"]["metadata"]["rotationId"] == id.as_str())
        .filter(|e| e["event"]["metadata"]["status"] == "success")
        .count();
    assert_eq!(successes, 1, "the commit's audit entry survived the kill");
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.events("secrets.modified").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the commit's webhook was lost with the process"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
