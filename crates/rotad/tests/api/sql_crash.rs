//! `rotad serve` killed with SIGKILL at each engine step of a database credentials rotation
//! (MariaDB, and the scram PostgreSQL cluster),
//! then restarted: the published login works, and a fresh rotation succeeds. The password is
//! sealed onto the intent before the `ALTER`, so recovery knows the only two it can be.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, TestDb};
use crate::process::{spawn_rotad, wait_ready, Process};
use crate::sql_support::{logs_in_at, Kind, SqlRig};

/// A rig on the server at `base`.
async fn attach(kind: Kind, db: TestDb, key: &str, base: &str) -> SqlRig {
    let mut app = TestApp {
        server: None,
        args: TestApp::args(&db, key),
        db,
        key: key.to_string(),
        base: base.to_string(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        token: String::new(),
        org_id: String::new(),
    };
    app.bootstrap("databases").await;
    SqlRig::on_at(kind, app).await
}

/// The database statements get a generous timeout: the tests run niced on a busy machine.
const TIMEOUT: (&str, &str) = ("ROTAD_DBT_REQUEST_TIMEOUT", "10s");

/// Every line the process wrote so far; panics when one holds a password.
fn drain(process: &Process, passwords: &[String], until: Option<&str>) -> bool {
    let mut seen = false;
    while let Ok(line) = process.lines.try_recv() {
        for p in passwords {
            assert!(!line.contains(p.as_str()), "a password in the log: {line}");
        }
        if until.is_some_and(|m| line.contains(m)) {
            seen = true;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_killed_at_every_engine_step_recovers() {
    killed_at_every_engine_step_recovers(Kind::MariaDb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_at_every_engine_step_recovers() {
    killed_at_every_engine_step_recovers(Kind::Postgres).await
}

async fn killed_at_every_engine_step_recovers(kind: Kind) {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let mut first = spawn_rotad(&db, &key, &[TIMEOUT]);
    wait_ready(&first.base).await;
    let mut rig = attach(kind, db, &key, &first.base).await;
    let id = rig.rotation().await;
    let mut passwords = vec![rig.users.admin_password.clone(), rig.published().await.1];
    first.kill();

    for step in ["lease", "intent", "issued", "persisted", "committed"] {
        let mut paused = spawn_rotad(&rig.app.db, &key, &[("ROTAD_TEST_PAUSE_AT", step), TIMEOUT]);
        wait_ready(&paused.base).await;
        rig.app.base = paused.base.clone();
        let http = rig.app.http.clone();
        let url = format!("{}{}/{id}/rotate-secrets", paused.base, kind.rotations());
        let token = rig.app.token.clone();
        // The previous process may have died holding the lease: a 400 "in progress" is
        // retried until the lease expires and the rotation starts.
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
        while !drain(&paused, &passwords, Some(&marker)) {
            assert!(
                !hanging.is_finished(),
                "{step}: the rotation finished without pausing"
            );
            assert!(Instant::now() < deadline, "never reached {step}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        paused.kill(); // SIGKILL
        hanging.abort();

        let restarted = spawn_rotad(&rig.app.db, &key, &[TIMEOUT]);
        wait_ready(&restarted.base).await;
        rig.app.base = restarted.base.clone();
        // Whatever recovery decided, the published login works.
        let published = rig.published().await;
        assert!(
            logs_in_at(kind, &published.0, &published.1).await,
            "{step}: the published login works after the restart"
        );
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
        let published = rig.published().await;
        assert!(
            logs_in_at(kind, &published.0, &published.1).await,
            "{step}: the login a fresh rotation published works"
        );
        let (slots, active) = rig.slots(&id).await;
        let other = &slots[1 - active as usize];
        assert!(
            logs_in_at(kind, &other.0, &other.1).await,
            "{step}: the previous login still works"
        );
        passwords.extend(slots.iter().map(|s| s.1.clone()));
        drain(&restarted, &passwords, None);
        drop(restarted);
    }
    let dump = rig.app.db.dump().await;
    for p in &passwords {
        assert!(
            !dump.windows(p.len()).any(|w| w == p.as_bytes()),
            "a password is stored in plaintext"
        );
    }
    rig.users.drop_all().await;
}
