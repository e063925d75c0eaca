//! Access-token settings are enforced at every use (docs/SECURITY.md, "Access tokens"):
//! `accessTokenNumUsesLimit` counts every authenticated request atomically, and
//! `accessTokenMaxTTL` ends a token's life even when its TTL is 0.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// An identity whose universal auth has `settings`; returns a fresh access token.
pub async fn token_with(app: &TestApp, name: &str, settings: Value) -> String {
    let (_, client_id, secret) = app.identity_with(name, "member", settings).await;
    let login = app.login(&client_id, &secret).await;
    assert_eq!(login.status, 200, "{}", login.body);
    login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn use_token(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/api/v1/projects", Some(token), None)
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn a_token_with_a_uses_limit_serves_exactly_that_many_requests() {
    let app = TestApp::spawn().await;
    let token = token_with(&app, "counted", json!({"accessTokenNumUsesLimit": 3})).await;
    for _ in 0..3 {
        assert_eq!(use_token(&app, &token).await, 200);
    }
    assert_eq!(use_token(&app, &token).await, 401, "the fourth use");

    // Concurrent uses are counted atomically: exactly the limit get through.
    let token = token_with(&app, "raced", json!({"accessTokenNumUsesLimit": 5})).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (http, url, token) = (
            app.http.clone(),
            format!("{}/api/v1/projects", app.base),
            token.clone(),
        );
        calls.spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let mut ok = 0;
    while let Some(status) = calls.join_next().await {
        match status.expect("task") {
            200 => ok += 1,
            401 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 5, "exactly the limit");
}

#[tokio::test]
async fn max_ttl_ends_a_token_at_every_use_even_without_a_ttl() {
    let app = TestApp::spawn().await;
    let token = token_with(
        &app,
        "bounded",
        json!({"accessTokenTTL": 0, "accessTokenMaxTTL": 1}),
    )
    .await;
    assert_eq!(use_token(&app, &token).await, 200);
    // The token's life is the thing under test: let one second pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(use_token(&app, &token).await, 401);
}
