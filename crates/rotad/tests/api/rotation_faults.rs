//! dbt failing at each engine step: the invariants hold and the API answers as upstream does.

use std::time::Duration;

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::json;

use crate::helpers::assert_envelope;
use crate::rotation_support::{schema_errors, seed, Rig, ROTATIONS};

const PREFIX: &str =
    "Infisical encountered an issue while generating credentials with the configured inputs: ";

#[tokio::test]
async fn a_failed_manual_rotation_is_a_500_and_changes_nothing_published() {
    let rig = Rig::new().await;
    let id = rig.rotation("flaky", "FLAKY").await;
    rig.rotate(&id).await;
    let published = rig.published("FLAKY").await;
    let faults = [
        Fault::status(Operation::TokenCreate, 500),
        Fault::rate_limited(Operation::TokenCreate, 1),
        Fault::html(Operation::TokenCreate, 502),
        Fault::drop(Operation::TokenCreate),
        Fault::drop(Operation::TokenCreate).after(),
        Fault::status(Operation::TokenCreate, 500).after(),
    ];
    for fault in faults {
        let label = format!("{fault:?}");
        let creates = rig.emu.calls(Operation::TokenCreate);
        rig.emu.inject(fault);
        let res = rig.rotate(&id).await;
        let message = assert_envelope(&res, 500);
        assert!(schema_errors(&seed()["responses"]["500"], &res.body, "$").is_empty());
        assert_eq!(res.body["error"], "InternalServerError");
        let message = message.as_str().unwrap_or_default().to_string();
        assert!(message.starts_with(PREFIX), "{label}: {message}");
        assert!(
            !message.contains("dbtc_"),
            "{label}: no token text in errors"
        );
        assert_eq!(
            rig.emu.calls(Operation::TokenCreate),
            creates + 1,
            "{label}: a create is sent once"
        );
        let row = rig.get(&id).await.body["secretRotation"].clone();
        assert_eq!(row["rotationStatus"], "failed", "{label}");
        assert_eq!(row["lastRotationMessage"], message.as_str());
        assert_eq!(row["activeIndex"], 1, "{label}: no flip");
        assert_eq!(
            rig.published("FLAKY").await,
            published,
            "{label}: published token untouched"
        );
        rig.assert_invariants(&id, "FLAKY", "flaky-token").await;
    }
    // The next attempt succeeds and clears the failure.
    let ok = rig.rotate(&id).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["secretRotation"]["rotationStatus"], "success");
    assert_eq!(
        ok.body["secretRotation"]["lastRotationMessage"],
        serde_json::Value::Null
    );
    rig.assert_invariants(&id, "FLAKY", "flaky-token").await;
    let audit = rig
        .app
        .get("/api/v1/organization/audit-logs?eventType=secret-rotation-rotate-secrets&limit=100")
        .await;
    let events = audit.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(events
        .iter()
        .any(|e| e["event"]["metadata"]["status"] == "failed"));
    assert!(
        !audit.body.to_string().contains("dbtc_"),
        "no token text in the audit log"
    );
}

#[tokio::test]
async fn a_revocation_that_fails_stays_queued_until_dbt_confirms() {
    let rig = Rig::new().await;
    let id = rig.rotation("stubborn", "STUBBORN").await;
    rig.rotate(&id).await;
    let (slots, _) = rig.slots(&id).await;
    let oldest = slots[0]["serviceToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Every delete fails for a while (the client's own retries included).
    rig.emu
        .inject(Fault::status(Operation::TokenDelete, 503).times(20));
    let res = rig.rotate(&id).await;
    assert_eq!(
        res.status, 200,
        "the rotation itself succeeded: {}",
        res.body
    );
    assert!(rig.is_live(&oldest), "not revoked yet");
    rig.emu.clear_faults();
    // The queue keeps it and the next pass revokes it.
    let app = rig
        .app
        .server
        .as_ref()
        .map(|s| s.app.clone())
        .expect("server");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.engine.work_revocations(None).await;
    assert_eq!(rig.token(&oldest).map(|t| t.state), Some(2));
    rig.assert_invariants(&id, "STUBBORN", "stubborn-token")
        .await;
}

#[tokio::test]
async fn probe_failures_answer_400() {
    let rig = Rig::new().await;
    let id = rig.rotation("probe", "PROBE").await;
    rig.emu
        .inject(Fault::status(Operation::TokenGet, 500).times(10));
    let res = rig
        .app
        .post(&format!("{ROTATIONS}/{id}/check-credentials"), json!({}))
        .await;
    assert_envelope(&res, 400);
    rig.emu.clear_faults();
    let res = rig
        .app
        .post(&format!("{ROTATIONS}/{id}/check-credentials"), json!({}))
        .await;
    assert_eq!(res.status, 204);
}

#[tokio::test]
async fn twenty_concurrent_rotations_make_one() {
    let rig = Rig::new().await;
    let id = rig.rotation("racy", "RACY").await;
    rig.emu.inject(Fault::delay(
        Operation::TokenCreate,
        Duration::from_millis(800),
    ));
    let creates = rig.emu.calls(Operation::TokenCreate);
    let mut handles = Vec::new();
    for _ in 0..20 {
        let http = rig.app.http.clone();
        let url = format!("{}{ROTATIONS}/{id}/rotate-secrets", rig.app.base);
        let token = rig.app.token.clone();
        handles.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .expect("send");
            let status = res.status().as_u16();
            (
                status,
                res.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }));
    }
    let mut answers = Vec::new();
    for h in handles {
        answers.push(h.await.expect("task"));
    }
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 400).collect();
    assert_eq!(ok, 1, "one rotation happens: {answers:?}");
    assert_eq!(busy.len(), 19);
    for (_, body) in busy {
        assert_eq!(
            body["message"],
            "A rotation is already in progress. Please try again shortly."
        );
    }
    assert_eq!(rig.emu.calls(Operation::TokenCreate), creates + 1);
    assert_eq!(rig.get(&id).await.body["secretRotation"]["activeIndex"], 1);
    rig.assert_invariants(&id, "RACY", "racy-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_dbt_never_lets_the_lease_lapse_under_a_live_rotation() {
    // A 1 s lease and a create that takes 3 s: the executor renews its lease, so a second
    // rotation meanwhile is refused instead of minting a second token.
    let rig = Rig::with(|a| a.rotation_lease = Duration::from_secs(1)).await;
    let id = rig.rotation("slow", "SLOW").await;
    rig.emu
        .inject(Fault::delay(Operation::TokenCreate, Duration::from_secs(3)));
    let first = {
        let req = rig
            .app
            .http
            .post(format!("{}{ROTATIONS}/{id}/rotate-secrets", rig.app.base))
            .bearer_auth(&rig.app.token)
            .json(&json!({}));
        tokio::spawn(async move { req.send().await })
    };
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let second = rig.rotate(&id).await;
    assert_envelope(&second, 400);
    assert_eq!(
        second.body["message"],
        "A rotation is already in progress. Please try again shortly."
    );
    let first = first.await.expect("task").expect("answer");
    assert_eq!(first.status(), 200);
    assert_eq!(rig.emu.max_concurrent_creates("slow-token"), 1);
    assert_eq!(
        rig.named("slow-token").len(),
        2,
        "one token at creation, one rotation"
    );
    rig.assert_invariants(&id, "SLOW", "slow-token").await;
}
