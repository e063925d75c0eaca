//! Slow clients and shutdown (docs/SECURITY.md, "Slow clients and shutdown"): a client that
//! trickles its headers is cut off, a request that takes too long is answered 408 (a rotation it
//! started goes on), and SIGTERM ends the process within its grace whatever clients do.

use std::process::Command;
use std::time::{Duration, Instant};

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, TestDb};
use crate::process::{attach, spawn_rotad, wait_ready};
use crate::rotation_support::{Rig, ROTATIONS};

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let app = TestApp::spawn_with(|a| a.header_read_timeout = Duration::from_secs(1)).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/status HTTP/1.1\r\nHost: rotad\r\n")
        .await
        .expect("write");
    // The rest of the headers never come: the server closes the connection.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_is_answered_408_and_its_rotation_goes_on() {
    let rig = Rig::with(|a| a.request_timeout = Duration::from_secs(1)).await;
    let id = rig.rotation("patient", "PATIENT").await;
    rig.emu
        .inject(Fault::delay(Operation::TokenCreate, Duration::from_secs(3)));
    let res = rig.rotate(&id).await;
    assert_eq!(res.status, 408, "{}", res.body);
    assert_eq!(res.body["statusCode"], 408, "the envelope: {}", res.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rig.get(&id).await.body["secretRotation"]["activeIndex"] != 1 {
        assert!(Instant::now() < deadline, "the rotation never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.assert_invariants(&id, "PATIENT", "patient-token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_process_within_its_grace_whatever_clients_do() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let first = spawn_rotad(&db, &key, &[]);
    wait_ready(&first.base).await;
    let rig = attach(db, &key, &first.base).await;
    let id = rig.rotation("stuck", "STUCK").await;
    drop(first);
    // A request that never finishes: its rotation stops for good at a pause point.
    let mut server = spawn_rotad(
        &rig.app.db,
        &key,
        &[
            ("ROTAD_TEST_PAUSE_AT", "issued"),
            ("ROTAD_SHUTDOWN_GRACE", "2s"),
        ],
    );
    wait_ready(&server.base).await;
    let req = rig
        .app
        .http
        .post(format!("{}{ROTATIONS}/{id}/rotate-secrets", server.base))
        .bearer_auth(&rig.app.token)
        .json(&json!({}));
    let hanging = tokio::spawn(async move { req.send().await });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match server.lines.try_recv() {
            Ok(line) if line.contains("paused at issued") => break,
            Ok(_) => {}
            Err(_) => {
                assert!(Instant::now() < deadline, "never paused");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM with a 2 s grace"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    hanging.abort();
}
