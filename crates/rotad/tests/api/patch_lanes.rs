//! PATCH lanes (docs/ARCHITECTURE.md, "PATCH lanes"): a PATCH that another caller committed
//! with its own group is answered as soon as that group commits, not after the lane's next
//! holder finishes the group after it.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::rotation_support::{Rig, ROTATIONS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_committed_in_anothers_group_is_answered_without_waiting_for_the_lane() {
    let rig = Rig::new().await;
    let id = rig.rotation("grouped", "GROUPED").await;
    let path = format!("{ROTATIONS}/{id}");
    let pauses = &rig.server().engine.pauses;

    // The first PATCH takes the lane and stops before it looks at the queue.
    let mut holding = pauses.arm("patch-lane");
    let first = rig.spawn_call(Method::PATCH, &path, json!({"description": "first"}));
    assert!(holding.reached().await, "the first PATCH takes the lane");
    // The second queues behind it (known queued: it stops right after queuing).
    let mut queued = pauses.arm("patch-queued");
    let second = rig.spawn_call(Method::PATCH, &path, json!({"description": "second"}));
    assert!(queued.reached().await, "the second PATCH queues");
    // Whoever takes the lane next stops there, holding it.
    let mut next_holder = pauses.arm("patch-lane");
    queued.release();
    holding.release();

    // The first commits both PATCHes as one group; the second's answer is then ready at once,
    // even though (before the fix) the second caller went on to take the lane and stop there.
    let first = first.await.expect("task").expect("answer");
    assert_eq!(first.status(), 200);
    let second = tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second PATCH is answered while another caller holds the lane")
        .expect("task")
        .expect("answer");
    assert_eq!(second.status(), 200);
    let body: serde_json::Value = second.json().await.expect("json");
    assert_eq!(body["secretRotation"]["description"], "second", "{body}");

    // The second never needed the lane: the next to take it is a third PATCH.
    let third = rig.spawn_call(Method::PATCH, &path, json!({"description": "third"}));
    assert!(
        next_holder.reached().await,
        "the third PATCH takes the lane"
    );
    next_holder.release();
    let third = third.await.expect("task").expect("answer");
    assert_eq!(third.status(), 200);
    let row = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(row["description"], "third", "{row}");
    rig.assert_invariants(&id, "GROUPED", "grouped-token").await;
}
