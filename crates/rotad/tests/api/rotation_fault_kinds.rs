//! dbt failing at each step a rotation takes (create, revoke, probe) in every way it can:
//! a JSON 500, a 429 with `Retry-After`, an HTML gateway page, and a timeout. The invariants
//! hold and the API answers as upstream does.

use std::time::{Duration, Instant};

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::json;

use crate::helpers::assert_envelope;
use crate::rotation_support::{Rig, ROTATIONS};

/// The server gives up on a dbt request after 1 s; a 2 s delay is a timeout.
async fn rig() -> Rig {
    Rig::with(|a| a.dbt_request_timeout = Duration::from_secs(1)).await
}

fn faults(op: Operation) -> Vec<(&'static str, Fault)> {
    vec![
        ("500", Fault::status(op, 500)),
        ("429", Fault::rate_limited(op, 60)),
        ("html", Fault::html(op, 502)),
        ("timeout", Fault::delay(op, Duration::from_secs(2))),
        // dbt acts at once, but its answer comes too late.
        (
            "late answer",
            Fault::delay(op, Duration::from_secs(2)).after(),
        ),
    ]
}

async fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_create_changes_nothing_published_and_leaves_no_token() {
    let rig = rig().await;
    let id = rig.rotation("brittle", "BRITTLE").await;
    for (kind, fault) in faults(Operation::TokenCreate) {
        let published = rig.published("BRITTLE").await;
        let (slots, active) = rig.slots(&id).await;
        let minted = rig.named("brittle-token").len();
        rig.emu.inject(fault.times(1));
        let res = rig.rotate(&id).await;
        let message = assert_envelope(&res, 500);
        assert!(
            message.as_str().is_some_and(|m| m.starts_with(
                "Infisical encountered an issue while generating credentials with the configured inputs: "
            )),
            "{kind}: {message}"
        );
        assert_eq!(rig.published("BRITTLE").await, published, "{kind}");
        assert!(
            rig.is_live(&published),
            "{kind}: the published token stays live"
        );
        assert_eq!(
            rig.slots(&id).await,
            (slots.clone(), active),
            "{kind}: slots untouched"
        );
        let row = rig.get(&id).await.body;
        assert_eq!(row["secretRotation"]["rotationStatus"], "failed", "{kind}");
        // dbt acts on a create whose answer comes too late, and on one it only starts after
        // the client gave up waiting (a timeout): either way a token lands, and is found and
        // revoked (at once, or by the final sweep once no late create can land).
        if kind == "late answer" || kind == "timeout" {
            wait_until(&format!("{kind}: the create lands at dbt"), 10, || {
                rig.named("brittle-token").len() == minted + 1
            })
            .await;
        }
        let held: Vec<String> = slots
            .iter()
            .filter_map(|s| s["serviceToken"].as_str().map(str::to_string))
            .collect();
        wait_until(&format!("{kind}: no stray token"), 30, || {
            rig.named("brittle-token")
                .iter()
                .all(|t| t.state == 2 || held.contains(&t.token_string))
        })
        .await;
        rig.assert_invariants(&id, "BRITTLE", "brittle-token").await;
    }
    // And the next rotation works.
    assert_eq!(rig.rotate(&id).await.status, 200);
    rig.assert_invariants(&id, "BRITTLE", "brittle-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revoke_keeps_the_token_queued_until_dbt_confirms() {
    let rig = rig().await;
    let id = rig.rotation("sticky", "STICKY").await;
    assert_eq!(rig.rotate(&id).await.status, 200);
    for (kind, fault) in faults(Operation::TokenDelete) {
        // The next rotation fills the inactive slot, displacing the previous token.
        let (slots, active) = rig.slots(&id).await;
        let displaced = slots[1 - active as usize]["serviceToken"]
            .as_str()
            .expect("token")
            .to_string();
        // Enough failures to outlast the client's own retries.
        rig.emu.inject(fault.times(8));
        let res = rig.rotate(&id).await;
        assert_eq!(
            res.status, 200,
            "{kind}: the rotation succeeds: {}",
            res.body
        );
        assert_ne!(rig.slots(&id).await.0, slots, "{kind}: rotated");
        rig.emu.clear_faults();
        // The queue revokes it once dbt answers again (I3, I4).
        wait_until(&format!("{kind}: the displaced token revoked"), 60, || {
            rig.token(&displaced).is_some_and(|t| t.state == 2)
        })
        .await;
        rig.assert_invariants(&id, "STICKY", "sticky-token").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_probe_answers_400_and_changes_nothing() {
    let rig = rig().await;
    let id = rig.rotation("probed", "PROBED").await;
    let check = format!("{ROTATIONS}/{id}/check-credentials");
    for (kind, fault) in faults(Operation::TokenGet) {
        let before = rig.get(&id).await.body;
        rig.emu.inject(fault.times(8));
        let res = rig.app.post(&check, json!({})).await;
        let message = assert_envelope(&res, 400);
        assert!(
            !message.as_str().unwrap_or_default().contains("dbtc_"),
            "{kind}: no token text in {message}"
        );
        rig.emu.clear_faults();
        assert_eq!(rig.get(&id).await.body, before, "{kind}: nothing changed");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let res = rig.app.post(&check, json!({})).await;
        assert_eq!(res.status, 204, "{kind}: {}", res.body);
    }
    rig.assert_invariants(&id, "PROBED", "probed-token").await;
}
