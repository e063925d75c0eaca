//! Every fault kind, both timings, repetition and the global latency.

mod common;

use std::time::{Duration, Instant};

use common::{emulator, request, send, tokens_path};
use dbt_cloud_emulator::{Emulator, Fault, Operation};
use reqwest::Method;
use serde_json::json;

fn create_request(emu: &Emulator, name: &str) -> reqwest::RequestBuilder {
    request(emu, Method::POST, &tokens_path(emu), &emu.admin_token())
        .json(&json!({"name": name, "permission_grants": [{"permission_set": "readonly"}]}))
}

fn live_named(emu: &Emulator, name: &str) -> usize {
    emu.live_tokens().iter().filter(|t| t.name == name).count()
}

#[tokio::test]
async fn a_status_fault_before_the_operation_prevents_it() {
    let emu = emulator().await;
    emu.inject(Fault::status(Operation::TokenCreate, 500));
    let (status, body) = send(create_request(&emu, "lost")).await;
    assert_eq!(status, 500);
    assert_eq!(body["status"]["code"], 500);
    assert_eq!(body["status"]["is_success"], false);
    assert_eq!(
        body["status"]["user_message"],
        "There was a server error. Please contact support!"
    );
    assert_eq!(live_named(&emu, "lost"), 0);

    let (status, _) = send(create_request(&emu, "lost")).await;
    assert_eq!(status, 200, "the fault struck once");
    assert_eq!(live_named(&emu, "lost"), 1);
}

#[tokio::test]
async fn a_status_fault_after_the_operation_loses_the_response_only() {
    let emu = emulator().await;
    emu.inject(Fault::status(Operation::TokenCreate, 503).after());
    let (status, body) = send(create_request(&emu, "orphan")).await;
    assert_eq!(status, 503);
    assert_eq!(body["data"], serde_json::Value::Null);
    assert_eq!(
        live_named(&emu, "orphan"),
        1,
        "the token was created anyway"
    );
}

#[tokio::test]
async fn an_html_fault_answers_like_a_gateway() {
    let emu = emulator().await;
    emu.inject(Fault::html(Operation::TokenList, 502));
    let response = request(&emu, Method::GET, &tokens_path(&emu), &emu.admin_token())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 502);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let body = response.text().await.expect("body");
    assert!(body.contains("<h1>502 Bad Gateway</h1>"), "{body}");
}

#[tokio::test]
async fn a_rate_limit_fault_sends_retry_after() {
    let emu = emulator().await;
    emu.inject(Fault::rate_limited(Operation::TokenGet, 7));
    let path = format!("{}{}/", tokens_path(&emu), emu.tokens()[0].id);
    let response = request(&emu, Method::GET, &path, &emu.admin_token())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"]["code"], 429);
}

#[tokio::test]
async fn a_dropped_connection_is_a_network_error_for_the_client() {
    let emu = emulator().await;
    emu.inject(Fault::drop(Operation::TokenCreate));
    let err = create_request(&emu, "dropped")
        .send()
        .await
        .expect_err("no response");
    assert!(err.status().is_none());
    assert!(!err.is_timeout());
    assert_eq!(
        live_named(&emu, "dropped"),
        0,
        "dropped before: nothing created"
    );

    emu.inject(Fault::drop(Operation::TokenCreate).after());
    let err = create_request(&emu, "dropped")
        .send()
        .await
        .expect_err("no response");
    assert!(err.status().is_none());
    assert_eq!(
        live_named(&emu, "dropped"),
        1,
        "dropped after: created, answer lost"
    );

    let (status, _) = send(create_request(&emu, "dropped")).await;
    assert_eq!(status, 200, "later calls are answered");
}

#[tokio::test]
async fn a_delay_before_postpones_the_operation_and_after_postpones_the_answer() {
    let emu = emulator().await;
    let delay = Duration::from_millis(600);

    emu.inject(Fault::delay(Operation::TokenCreate, delay));
    let slow = tokio::spawn(create_request(&emu, "late").send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        live_named(&emu, "late"),
        0,
        "not created while delayed before"
    );
    let response = slow.await.expect("join").expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(live_named(&emu, "late"), 1);

    emu.inject(Fault::delay(Operation::TokenCreate, delay).after());
    let started = Instant::now();
    let slow = tokio::spawn(create_request(&emu, "early").send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        live_named(&emu, "early"),
        1,
        "created before the delayed answer"
    );
    let response = slow.await.expect("join").expect("answered");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= delay);
}

#[tokio::test]
async fn a_fault_strikes_exactly_times_calls_then_disarms() {
    let emu = emulator().await;
    emu.inject(Fault::status(Operation::TokenList, 500).times(3));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            send(request(
                &emu,
                Method::GET,
                &tokens_path(&emu),
                &emu.admin_token(),
            ))
            .await
            .0,
        );
    }
    assert_eq!(statuses, [500, 500, 500, 200]);
}

#[tokio::test]
async fn faults_target_their_operation_and_any_targets_all() {
    let emu = emulator().await;
    emu.inject(Fault::status(Operation::TokenDelete, 500));
    let account = format!("/api/v2/accounts/{}/", emu.account_id());
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        200
    );

    emu.clear_faults();
    emu.inject(Fault::status(Operation::Any, 418).times(2));
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        418
    );
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &emu.admin_token()
        ))
        .await
        .0,
        418
    );
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        200
    );

    emu.inject(Fault::status(Operation::Any, 500).times(10));
    emu.clear_faults();
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let emu = emulator().await;
    emu.set_latency(Duration::from_millis(400));
    let account = format!("/api/v2/accounts/{}/", emu.account_id());
    let started = Instant::now();
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    emu.set_latency(Duration::ZERO);
    let started = Instant::now();
    assert_eq!(
        send(request(&emu, Method::GET, &account, &emu.admin_token()))
            .await
            .0,
        200
    );
    assert!(started.elapsed() < Duration::from_millis(400));
}
