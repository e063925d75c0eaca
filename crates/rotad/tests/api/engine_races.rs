//! Races around the rotation engine (docs/ARCHITECTURE.md, "Invariants and their tests"),
//! each reproduced with pause points or emulator faults: sweeps that take only their intent's
//! own tokens, deletes through the revocation queue, a guard that fails closed, rotations that
//! survive a client hanging up, fenced PATCHes and commits, and creations that recovery swept.

use std::time::{Duration, Instant};

use dbt_cloud_emulator::{EmulatorConfig, Fault, Operation};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::assert_envelope;
use crate::rotation_support::{minted_as, Rig, ROTATIONS};

const IN_PROGRESS: &str = "A rotation is already in progress. Please try again shortly.";

/// Polls `done` (after a pass of recovery and the revocation queue) until it holds.
async fn settle_until(rig: &Rig, what: &str, mut done: impl FnMut(&Rig) -> bool) {
    let app = rig.server();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = app.engine.recover().await;
        app.engine.work_revocations(None).await;
        if done(rig) {
            return;
        }
        assert!(Instant::now() < deadline, "never settled: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn slot_tokens(slots: &[Value]) -> Vec<String> {
    slots
        .iter()
        .filter_map(|s| s["serviceToken"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn sweeps_take_only_the_intents_own_tokens() {
    let rig = Rig::new().await;
    // dev and staging both name their token `analytics-ci`, through two connections to one
    // dbt account; someone also made an `analytics-ci` token by hand.
    let staging_connection = rig.connection_named("dbt-staging", None).await;
    let mut prod = rig.body("prod", "PROD_TOKEN");
    prod["parameters"]["tokenName"] = json!("analytics-ci");
    let mut staging = rig.body("staging", "STAGING_TOKEN");
    staging["parameters"]["tokenName"] = json!("analytics-ci");
    staging["connectionId"] = json!(staging_connection);
    let prod_id = rig.app.post(ROTATIONS, prod).await.body["secretRotation"]["id"]
        .as_str()
        .expect("prod")
        .to_string();
    let staging_id = rig.app.post(ROTATIONS, staging).await.body["secretRotation"]["id"]
        .as_str()
        .expect("staging")
        .to_string();
    assert_eq!(rig.rotate(&staging_id).await.status, 200);
    let by_hand = rig.emu.create_token("analytics-ci", Vec::new());

    // Creates of prod whose token is minted but whose answer is lost.
    for fault in [
        Fault::drop(Operation::TokenCreate).after(),
        Fault::status(Operation::TokenCreate, 500).after(),
        Fault::drop(Operation::TokenCreate).after(),
    ] {
        rig.emu.inject(fault);
        let res = rig.rotate(&prod_id).await;
        assert_envelope(&res, 500);
    }
    let prod_slots = slot_tokens(&rig.slots(&prod_id).await.0);
    let staging_slots = slot_tokens(&rig.slots(&staging_id).await.0);
    settle_until(&rig, "prod's lost tokens revoked", |rig| {
        rig.emu
            .tokens()
            .iter()
            .filter(|t| minted_as(&t.name, "analytics-ci") && t.id != by_hand.id)
            .filter(|t| !prod_slots.contains(&t.token_string))
            .filter(|t| !staging_slots.contains(&t.token_string))
            .all(|t| t.state == 2)
    })
    .await;
    assert!(
        rig.is_live(&by_hand.token_string),
        "the hand-made token lives"
    );
    for t in prod_slots.iter().chain(&staging_slots) {
        assert!(rig.is_live(t), "every slot of either rotation lives");
    }
    let lost = rig
        .emu
        .tokens()
        .iter()
        .filter(|t| minted_as(&t.name, "analytics-ci") && t.id != by_hand.id && t.state == 2)
        .count();
    assert_eq!(lost, 3, "each lost answer's token is revoked");
    assert_eq!(staging_slots.len(), 2);
    assert_eq!(rig.published("STAGING_TOKEN").await, staging_slots[1]);
    assert_eq!(rig.published("PROD_TOKEN").await, prod_slots[0]);
}

#[tokio::test]
async fn a_failed_revoke_at_delete_never_kills_a_standing_rotation() {
    let rig = Rig::new().await;
    let id = rig.rotation("doomed", "DOOMED").await;
    assert_eq!(rig.rotate(&id).await.status, 200);
    let slots = slot_tokens(&rig.slots(&id).await.0);
    // The first delete at dbt goes through; every later one fails for a while.
    rig.emu
        .inject(Fault::delay(Operation::TokenDelete, Duration::ZERO));
    rig.emu
        .inject(Fault::status(Operation::TokenDelete, 500).times(60));
    let res = rig
        .app
        .delete(
            &format!("{ROTATIONS}/{id}?revokeGeneratedCredentials=true"),
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(rig.get(&id).await.status, 404, "the rotation is gone");
    rig.emu.clear_faults();
    settle_until(&rig, "both slot tokens revoked", |rig| {
        slots.iter().all(|t| !rig.is_live(t))
    })
    .await;
}

#[tokio::test]
async fn the_revocation_guard_fails_closed() {
    let rig = Rig::new().await;
    let id = rig.rotation("guarded", "GUARDED").await;
    let donor = rig.rotation("donor", "DONOR").await;
    let (slots, active) = rig.slots(&id).await;
    let published = slots[active as usize].clone();
    let token = published["serviceToken"].as_str().unwrap_or_default();
    // The published token got queued by mistake, and the slot check cannot read the slots
    // (they are sealed for another row now): unsure must mean "keep".
    rig.app
        .db
        .execute(&format!(
            "UPDATE secret_rotations SET credentials = (SELECT credentials FROM \
             secret_rotations WHERE id = '{donor}') WHERE id = '{id}'"
        ))
        .await;
    rig.app
        .db
        .execute(&format!(
            "INSERT INTO credential_queue (kind, id, rotation_id, connection_id, credential_id, \
             attempts, next_attempt_at, last_error, created_at) VALUES ('revoke', 'mistake', \
             '{id}', '{}', '{}', 0, 0, NULL, 0)",
            rig.connection, published["tokenId"]
        ))
        .await;
    rig.server().engine.work_revocations(None).await;
    assert!(rig.is_live(token), "an unsure guard keeps the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_rotate_changes_nothing() {
    let rig = Rig::new().await;
    let id = rig.rotation("patient", "PATIENT").await;
    let app = rig.server();
    let mut paused = app.engine.pauses.arm("issued");
    let call = rig.spawn_call(
        Method::POST,
        &format!("{ROTATIONS}/{id}/rotate-secrets"),
        json!({}),
    );
    assert!(paused.reached().await, "the rotation reached dbt");
    call.abort(); // The client hangs up with the token minted.
    let _ = call.await;
    let stopped = tokio::time::timeout(Duration::from_secs(2), paused.abandoned()).await;
    assert!(stopped.is_err(), "the rotation went on without its client");
    paused.release();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.get(&id).await.body["secretRotation"]["activeIndex"] != 1 {
        assert!(Instant::now() < deadline, "the rotation never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Finished: the lease is free at once and nothing was left behind.
    assert_eq!(rig.rotate(&id).await.status, 200);
    rig.assert_invariants(&id, "PATIENT", "patient-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_and_a_rotation_lose_nothing() {
    let rig = Rig::new().await;
    let id = rig.rotation("edited", "EDITED").await;
    let app = rig.server();
    let mut paused = app.engine.pauses.arm("patch-read");
    let first = rig.spawn_call(
        Method::PATCH,
        &format!("{ROTATIONS}/{id}"),
        json!({"name": "renamed"}),
    );
    assert!(paused.reached().await);
    // While the first PATCH holds an old read, another replica's PATCH and a rotation land.
    // (This replica queues its own PATCHes of one rotation, so the racing PATCH comes from
    // another server on the same database.)
    let replica = rotad::Server::start(&rig.app.args)
        .await
        .expect("second replica starts");
    let second = rig
        .app
        .http
        .patch(format!("{}{ROTATIONS}/{id}", replica.url()))
        .bearer_auth(&rig.app.token)
        .json(&json!({"rotationInterval": 7}))
        .send()
        .await
        .expect("second PATCH");
    assert_eq!(second.status(), 200);
    replica.stop().await.expect("replica stops");
    let rotated = rig.rotate(&id).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    paused.release();
    let first = first.await.expect("task").expect("answer");
    assert_eq!(first.status(), 200);
    let row = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(row["name"], "renamed");
    assert_eq!(row["rotationInterval"], 7, "the second PATCH is kept");
    assert_eq!(row["activeIndex"], 1, "the rotation is kept");
    assert_eq!(
        row["lastRotatedAt"], rotated.body["secretRotation"]["lastRotatedAt"],
        "the commit's timestamps are kept"
    );
    assert_eq!(
        row["nextRotationAt"], rotated.body["secretRotation"]["nextRotationAt"],
        "the schedule is computed from the committed row"
    );
    rig.assert_invariants(&id, "EDITED", "edited-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_survives_a_patch_that_lands_mid_rotation() {
    let rig = Rig::new().await;
    let id = rig.rotation("busy", "BUSY").await;
    let app = rig.server();
    let mut paused = app.engine.pauses.arm("persisted");
    let rotation = rig.spawn_call(
        Method::POST,
        &format!("{ROTATIONS}/{id}/rotate-secrets"),
        json!({}),
    );
    assert!(paused.reached().await);
    let patched = rig
        .app
        .patch(&format!("{ROTATIONS}/{id}"), json!({"rotationInterval": 9}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    paused.release();
    let rotation = rotation.await.expect("task").expect("answer");
    assert_eq!(rotation.status(), 200);
    let row = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(row["activeIndex"], 1);
    assert_eq!(row["rotationInterval"], 9);
    rig.assert_invariants(&id, "BUSY", "busy-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_swept_by_recovery_never_publishes_its_token() {
    let rig = Rig::with(|a| a.rotation_lease = Duration::from_millis(300)).await;
    let app = rig.server();
    let mut paused = app.engine.pauses.arm("persisted");
    let create = rig.spawn_call(Method::POST, ROTATIONS, rig.body("late", "LATE"));
    assert!(
        paused.reached().await,
        "the first token is minted and persisted"
    );
    // The creation outlives a lease: recovery takes it over and revokes its token.
    settle_until(&rig, "the creation's token revoked", |rig| {
        let minted: Vec<_> = rig
            .emu
            .tokens()
            .into_iter()
            .filter(|t| minted_as(&t.name, "late-token"))
            .collect();
        !minted.is_empty() && minted.iter().all(|t| t.state == 2)
    })
    .await;
    paused.release();
    let res = create.await.expect("task").expect("answer");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["message"], IN_PROGRESS);
    let listed = rig
        .app
        .get(&format!(
            "{ROTATIONS}/rotation-name/late?projectId={}&environment=dev&secretPath=/",
            rig.project
        ))
        .await;
    assert_eq!(listed.status, 404, "nothing was published: {}", listed.body);
    let secret = rig
        .app
        .get(&format!(
            "/api/v3/secrets/raw/LATE?workspaceId={}&environment=dev",
            rig.project
        ))
        .await;
    assert_eq!(secret.status, 404, "no secret holds a revoked token");
}

#[tokio::test]
async fn a_connection_with_standing_tokens_cannot_be_moved_to_another_account() {
    let rig = Rig::new().await;
    let project_connection = rig
        .connection_named("dbt-project", Some(&rig.project))
        .await;
    let mut body = rig.body("pinned", "PINNED");
    body["connectionId"] = json!(project_connection);
    let id = rig.app.post(ROTATIONS, body).await.body["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/v1/app-connections/dbt/{project_connection}");
    let elsewhere = dbt_cloud_emulator::spawn(EmulatorConfig::default())
        .await
        .expect("a second dbt account");
    let moved = json!({"credentials": {"instanceUrl": elsewhere.base_url(),
        "accountId": elsewhere.account_id().to_string(), "apiToken": elsewhere.admin_token()}});
    let res = rig.app.patch(&path, moved.clone()).await;
    let message = assert_envelope(&res, 400);
    assert!(
        message.as_str().unwrap_or_default().contains("\"pinned\""),
        "names the rotation: {message}"
    );
    // The same account with a new admin token is fine.
    let same = json!({"credentials": {"instanceUrl": rig.emu.base_url(),
        "accountId": rig.emu.account_id().to_string(), "apiToken": rig.emu.admin_token()}});
    assert_eq!(rig.app.patch(&path, same).await.status, 200);

    // Deleted with its tokens still queued (dbt refuses deletes): the project stays.
    rig.emu
        .inject(Fault::status(Operation::TokenDelete, 500).times(60));
    let res = rig
        .app
        .delete(
            &format!("{ROTATIONS}/{id}?revokeGeneratedCredentials=true"),
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_envelope(&rig.app.patch(&path, moved.clone()).await, 400);
    let res = rig
        .app
        .delete(&format!("/api/v1/projects/{}", rig.project), json!({}))
        .await;
    let message = assert_envelope(&res, 400);
    assert!(
        message.as_str().unwrap_or_default().contains("dbt-project"),
        "{message}"
    );
    rig.emu.clear_faults();
    settle_until(&rig, "the queued token revoked", |rig| {
        rig.named("pinned-token").iter().all(|t| t.state == 2)
    })
    .await;
    assert_eq!(rig.app.patch(&path, moved).await.status, 200);
    let res = rig
        .app
        .delete(&format!("/api/v1/projects/{}", rig.project), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_keeps_the_account_its_token_was_minted_at() {
    let rig = Rig::new().await;
    let elsewhere = dbt_cloud_emulator::spawn(EmulatorConfig::default())
        .await
        .expect("a second dbt account");
    let connection = rig.connection_named("dbt-moving", None).await;
    let app = rig.server();
    // A creation connects to the first account; before its intent exists (nothing stands on
    // the connection yet), the connection is moved to another account.
    let mut connected = app.engine.pauses.arm("connected");
    let mut body = rig.body("moved", "MOVED");
    body["connectionId"] = json!(connection);
    let create = rig.spawn_call(Method::POST, ROTATIONS, body);
    assert!(connected.reached().await);
    let moved = json!({"credentials": {"instanceUrl": elsewhere.base_url(),
        "accountId": elsewhere.account_id().to_string(), "apiToken": elsewhere.admin_token()}});
    let res = rig
        .app
        .patch(&format!("/api/v1/app-connections/dbt/{connection}"), moved)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    connected.release();
    let created = create.await.expect("task").expect("answer");
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.expect("json");
    let id = created["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let first = rig.named("moved-token");
    assert_eq!(first.len(), 1, "the first token lives at the first account");
    // Two rotations (at the new account) displace it; its revocation must not go to the new
    // account, where dbt's 404 would count as "revoked".
    assert_eq!(rig.rotate(&id).await.status, 200);
    assert_eq!(rig.rotate(&id).await.status, 200);
    app.engine.work_revocations(None).await;
    let res = rig
        .app
        .delete(
            &format!("{ROTATIONS}/{id}?revokeGeneratedCredentials=true"),
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        rig.is_live(&first[0].token_string),
        "nothing could revoke it at its own account"
    );
    let res = rig
        .app
        .delete(
            &format!("/api/v1/app-connections/dbt/{connection}"),
            json!({}),
        )
        .await;
    assert_envelope(&res, 400);
}
