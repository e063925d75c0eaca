//! `rotad serve` killed with SIGKILL at each engine step, then restarted: recovery leaves
//! every token in a slot or revoked (I4), the published token live, and the next rotation works.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestDb};
use crate::rotation_support::{Rig, ROTATIONS};

struct Process {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts the real binary; with `pause`, a reader thread reports when the step is reached.
fn start(
    db: &TestDb,
    key: &str,
    pause: Option<&str>,
) -> (Process, std::sync::mpsc::Receiver<String>) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rotad"));
    cmd.arg("serve")
        .env("ROTAD_LISTEN", format!("127.0.0.1:{port}"))
        .env("ROTAD_DATABASE_URL", db.url())
        .env("ROTAD_ENCRYPTION_KEY", key)
        .env("ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS", "true")
        .env("ROTAD_ROTATION_LEASE", "2s")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(step) = pause {
        cmd.env("ROTAD_TEST_PAUSE_AT", step);
    }
    let mut child = cmd.spawn().expect("spawn rotad");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (
        Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
        },
        rx,
    )
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/api/status"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rotad did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_engine_step_recovers() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let (mut first, _) = start(&db, &key, None);
    wait_ready(&first.base).await;
    // Reuse the rig's helpers against the external process.
    let emu = dbt_cloud_emulator::spawn(Default::default())
        .await
        .expect("emulator");
    let mut app = TestApp {
        server: None,
        db,
        key: key.clone(),
        base: first.base.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        token: String::new(),
        org_id: String::new(),
    };
    let boot = app
        .call(
            Method::POST,
            "/api/v1/admin/bootstrap",
            None,
            Some(json!({"organization": "crash"})),
        )
        .await;
    app.token = boot.body["identity"]["credentials"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    app.org_id = boot.body["organization"]["id"]
        .as_str()
        .expect("org")
        .to_string();
    let project = app.project("crash").await;
    let conn = app
        .post("/api/v1/app-connections/dbt", json!({"name": "dbt", "method": "api-token", "credentials": {
            "instanceUrl": emu.base_url(), "accountId": emu.account_id().to_string(), "apiToken": emu.admin_token()}}))
        .await;
    let connection = conn.body["appConnection"]["id"]
        .as_str()
        .expect("connection")
        .to_string();
    let mut rig = Rig {
        app,
        emu,
        project,
        connection,
    };
    let id = rig.rotation("survivor", "SURVIVOR").await;
    let _ = first.child.kill();
    let _ = first.child.wait();

    for step in ["lease", "intent", "issued", "persisted", "committed"] {
        let (mut paused, lines) = start(&rig.app.db, &key, Some(step));
        wait_ready(&paused.base).await;
        rig.app.base = paused.base.clone();
        let http = rig.app.http.clone();
        let url = format!("{}{ROTATIONS}/{id}/rotate-secrets", paused.base);
        let token = rig.app.token.clone();
        let hanging = tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
        });
        let marker = format!("paused at {step}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match lines.try_recv() {
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
        paused.child.kill().expect("SIGKILL");
        let _ = paused.child.wait();
        hanging.abort();

        let (mut restarted, _) = start(&rig.app.db, &key, None);
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
        let deadline = Instant::now() + Duration::from_secs(15);
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
        let _ = restarted.child.kill();
        let _ = restarted.child.wait();
    }
}
