//! `rotad serve` killed with SIGKILL at each engine step, then restarted: recovery leaves
//! every token in a slot or revoked (I4), the published token live, and the next rotation works.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestDb;
use crate::process::{attach, spawn_rotad, wait_ready};
use crate::rotation_support::ROTATIONS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_engine_step_recovers() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let mut first = spawn_rotad(&db, &key, &[]);
    wait_ready(&first.base).await;
    let mut rig = attach(db, &key, &first.base).await;
    let id = rig.rotation("survivor", "SURVIVOR").await;
    first.kill();

    for step in ["lease", "intent", "issued", "persisted", "committed"] {
        let mut paused = spawn_rotad(&rig.app.db, &key, &[("ROTAD_TEST_PAUSE_AT", step)]);
        wait_ready(&paused.base).await;
        rig.app.base = paused.base.clone();
        let http = rig.app.http.clone();
        let url = format!("{}{ROTATIONS}/{id}/rotate-secrets", paused.base);
        let token = rig.app.token.clone();
        // The previous process may have died holding the lease (mid-recovery): a 400
        // "in progress" is retried until the lease expires and the rotation starts.
        let hanging = tokio::spawn(async move {
            loop {
                let res = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 400 => {
                        tokio::time::sleep(Duration::from_millis(300)).await
                    }
                    other => return other,
                }
            }
        });
        let marker = format!("paused at {step}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match paused.lines.try_recv() {
                Ok(line) if line.contains(&marker) => break,
                Ok(line) => eprintln!("rotad: {line}"),
                Err(_) if !hanging.is_finished() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ if hanging.is_finished() => panic!(
                    "{step}: the rotation finished without pausing: {:?}",
                    hanging.await
                ),
                _ if Instant::now() > deadline => panic!("never reached {step}"),
                _ => {}
            }
        }
        paused.kill(); // SIGKILL
        hanging.abort();

        let restarted = spawn_rotad(&rig.app.db, &key, &[]);
        wait_ready(&restarted.base).await;
        rig.app.base = restarted.base.clone();
        // Recovery runs at start and every few seconds; the dead lease expires after 2 s.
        let deadline = Instant::now() + Duration::from_secs(30);
        let rotated = loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let res = rig.rotate(&id).await;
            if res.status == 200 {
                break res;
            }
            assert_eq!(
                res.status, 400,
                "{step}: only 'in progress' while the lease is held: {}",
                res.body
            );
            assert!(
                Instant::now() < deadline,
                "{step}: rotation never became possible"
            );
        };
        assert_eq!(rotated.body["secretRotation"]["rotationStatus"], "success");
        // Give the restarted server's queue a moment, then check every token is accounted for.
        // Strays of a create cut off mid-flight are swept once no late create can land.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (slots, _) = rig.slots(&id).await;
            let held: Vec<String> = slots
                .iter()
                .filter_map(|s| s["serviceToken"].as_str().map(str::to_string))
                .collect();
            let stray = rig
                .named("survivor-token")
                .into_iter()
                .filter(|t| t.state == 1 && !held.contains(&t.token_string))
                .count();
            if stray == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{step}: {stray} live token(s) outside the slots (I4)"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        rig.assert_invariants(&id, "SURVIVOR", "survivor-token")
            .await;
        drop(restarted);
    }
}
