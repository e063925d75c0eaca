//! Login floods (docs/SECURITY.md, "Login"): failed logins are throttled per client id and per
//! source address with 429 and `Retry-After`, audited without the secret, and a flood neither
//! exhausts memory nor stops rotations or other identities' logins.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp, TestDb};
use crate::process::{attach, spawn_rotad, wait_ready};

const LOGIN: &str = "/api/v1/auth/universal-auth/login";

/// A client whose requests come from `address` (any 127.x.y.z is this machine's loopback).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
) -> (u16, Value, Option<String>) {
    let res = http
        .post(format!("{base}{LOGIN}"))
        .json(&json!({"clientId": client_id, "clientSecret": secret}))
        .send()
        .await
        .expect("login");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, res.json().await.unwrap_or(Value::Null), retry_after)
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_id_and_audited() {
    let app = TestApp::spawn().await;
    let (_, client_id, secret) = app.identity("target", "member").await;
    let attacker = client_from(Ipv4Addr::new(127, 0, 0, 21));
    for _ in 0..10 {
        let (status, body, _) = login(&attacker, &app.base, &client_id, "wrong-secret-xyz").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body, retry_after) =
        login(&attacker, &app.base, &client_id, "wrong-secret-xyz").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["statusCode"], 429);
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
        "Retry-After"
    );
    // Throttled means throttled: even the right secret waits, from anywhere.
    let elsewhere = client_from(Ipv4Addr::new(127, 0, 0, 22));
    let (status, _, _) = login(&elsewhere, &app.base, &client_id, &secret).await;
    assert_eq!(status, 429);
    // Another identity is not affected.
    let (_, other_id, other_secret) = app.identity("bystander", "member").await;
    let (status, body, _) = login(&elsewhere, &app.base, &other_id, &other_secret).await;
    assert_eq!(status, 200, "{body}");

    let audit = app
        .get("/api/v1/organization/audit-logs?eventType=login-identity-universal-auth-failed&limit=100")
        .await;
    let events = audit.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(events.len(), 10, "every failure is audited: {}", audit.body);
    assert!(
        !audit.body.to_string().contains("wrong-secret-xyz"),
        "never the secret"
    );
}

#[tokio::test]
async fn one_address_is_throttled_across_client_ids_and_unknown_ids_cost_the_same() {
    let app = TestApp::spawn().await;
    let scanner = client_from(Ipv4Addr::new(127, 0, 0, 31));
    let mut unknown = Vec::new();
    for i in 0..30 {
        let started = Instant::now();
        let (status, body, _) =
            login(&scanner, &app.base, &format!("no-such-client-{i}"), "guess").await;
        assert_eq!(status, 401, "{body}");
        unknown.push(started.elapsed());
    }
    let (status, _, _) = login(&scanner, &app.base, "no-such-client-x", "guess").await;
    assert_eq!(status, 429, "the address is throttled");
    // An unknown client id runs the same hashing as a wrong secret: not answered at once.
    let (_, client_id, _) = app.identity("known", "member").await;
    let other = client_from(Ipv4Addr::new(127, 0, 0, 32));
    let started = Instant::now();
    let (status, _, _) = login(&other, &app.base, &client_id, "wrong").await;
    assert_eq!(status, 401);
    let known = started.elapsed();
    unknown.sort();
    let median = unknown[unknown.len() / 2];
    assert!(
        median * 4 >= known,
        "an unknown client id answers about as slowly as a wrong secret: {median:?} vs {known:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_leaves_memory_rotations_and_other_logins_alone() {
    // The server in a process of its own, so its memory is measured alone.
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let server = spawn_rotad(&db, &key, &[]);
    wait_ready(&server.base).await;
    let rig = attach(db, &key, &server.base).await;
    let (_, target, _) = rig.app.identity("flooded", "member").await;
    let (_, good_id, good_secret) = rig.app.identity("legit", "member").await;
    let id = rig.rotation("during-flood", "DURING_FLOOD").await;
    let before = peak_rss_mb(server.child.id());
    rig.emu.inject(Fault::delay(
        Operation::TokenCreate,
        Duration::from_millis(1500),
    ));
    let rotation = {
        let req = rig
            .app
            .http
            .post(format!(
                "{}/api/v2/secret-rotations/dbt-service-token/{id}/rotate-secrets",
                rig.app.base
            ))
            .bearer_auth(&rig.app.token)
            .json(&json!({}));
        tokio::spawn(async move { req.send().await })
    };
    let flood_client = client_from(Ipv4Addr::new(127, 0, 0, 41));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..600 {
        let (http, base, target) = (flood_client.clone(), rig.app.base.clone(), target.clone());
        flood.spawn(async move { login(&http, &base, &target, &format!("bad-{i}")).await.0 });
    }
    // Meanwhile, another identity logs in from another address.
    let legit = client_from(Ipv4Addr::new(127, 0, 0, 42));
    let started = Instant::now();
    let (status, body, _) = login(&legit, &rig.app.base, &good_id, &good_secret).await;
    let legit_took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let mut statuses = Vec::new();
    while let Some(done) = flood.join_next().await {
        statuses.push(done.expect("task"));
    }
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        throttled > 500,
        "the flood is mostly turned away: {throttled} of 600"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let rotated = rotation.await.expect("task").expect("answer");
    assert_eq!(rotated.status(), 200, "the rotation ran through the flood");
    let peak = peak_rss_mb(server.child.id());
    eprintln!(
        "flood: legit login took {legit_took:?}; server peak RSS {peak} MB ({before} MB before); \
         {throttled} of 600 throttled"
    );
    assert!(peak < 300, "the server's peak resident memory: {peak} MB");
    assert!(
        legit_took < Duration::from_secs(1),
        "another identity's login took {legit_took:?}"
    );
}

/// A process's peak resident memory, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_throttled_answer_carries_the_envelope() {
    let app = TestApp::spawn().await;
    let client = client_from(Ipv4Addr::new(127, 0, 0, 51));
    for _ in 0..10 {
        login(&client, &app.base, "cid", "x").await;
    }
    let res = app
        .call(
            reqwest::Method::POST,
            LOGIN,
            None,
            Some(json!({"clientId": "cid", "clientSecret": "x"})),
        )
        .await;
    assert_envelope(&res, 429);
}

#[tokio::test]
async fn client_secret_trusted_ips_are_enforced_at_login() {
    let app = TestApp::spawn().await;
    let (id, client_id, secret) = app
        .identity_with(
            "fenced",
            "member",
            json!({"clientSecretTrustedIps": [{"ipAddress": "127.0.0.77/32"}]}),
        )
        .await;
    let outside = client_from(Ipv4Addr::new(127, 0, 0, 78));
    let (status, body, _) = login(&outside, &app.base, &client_id, &secret).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string().contains("clientSecretTrustedIps"),
        "{body}"
    );
    let inside = client_from(Ipv4Addr::new(127, 0, 0, 77));
    let (status, body, _) = login(&inside, &app.base, &client_id, &secret).await;
    assert_eq!(status, 200, "{body}");
    let ua = app
        .get(&format!("/api/v1/auth/universal-auth/identities/{id}"))
        .await;
    assert_eq!(
        ua.body["identityUniversalAuth"]["clientSecretTrustedIps"],
        json!([{"ipAddress": "127.0.0.77/32"}]),
        "stored and shown: {}",
        ua.body
    );
}
