//! Security hardening (docs/SECURITY.md): see the tests below.
//!
//! What the server exposes: metrics whose label sets a caller cannot grow; webhook URLs to
//! those who may not edit webhooks (scheme and host only), and how long they may be.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};

const HTTP_SERIES: &str = "rotad_http_requests_total{";

async fn scrape(app: &TestApp) -> String {
    let addr = app
        .server
        .as_ref()
        .and_then(|s| s.metrics_addr)
        .expect("metrics address");
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text")
}

/// The label sets of the HTTP request series.
fn http_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(HTTP_SERIES))
        .filter_map(|l| l.split_once('}').map(|(labels, _)| labels.to_string()))
        .collect()
}

/// The sum of the HTTP request counters whose labels contain every one of `labels`.
fn http_count(text: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(HTTP_SERIES))
        .filter_map(|l| l.split_once("} "))
        .filter(|(set, _)| labels.iter().all(|want| set.contains(want)))
        .filter_map(|(_, value)| value.trim().parse::<u64>().ok())
        .sum()
}

fn random_word() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_ascii_uppercase()
}

#[tokio::test]
async fn made_up_methods_and_unmatched_routes_do_not_grow_the_metrics() {
    let app = TestApp::spawn_with(|a| {
        a.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    // One known request, so the HTTP family is not empty before.
    assert_eq!(app.get("/api/status").await.status, 200);
    let before = scrape(&app).await;
    let series_before = http_series(&before);
    assert!(!series_before.is_empty(), "{before}");

    let mut sent = Vec::new();
    for _ in 0..20 {
        let method = format!("X{}", random_word());
        let verb = Method::from_bytes(method.as_bytes()).expect("method token");
        let answer = app.call(verb, "/api/status", None, None).await;
        assert!(
            answer.status.is_client_error(),
            "{method}: {}",
            answer.status
        );
        sent.push(method);
    }
    for _ in 0..20 {
        let word = random_word().to_ascii_lowercase();
        let path = format!("/api/v9/nowhere-{word}");
        let answer = app.get(&path).await;
        assert_eq!(answer.status, 404, "{path}");
        sent.push(word);
    }

    let after = scrape(&app).await;
    let series_after = http_series(&after);
    let grown: Vec<_> = series_after.difference(&series_before).collect();
    assert!(
        grown.len() <= 3,
        "40 requests with made-up methods and paths added {} series: {grown:?}",
        grown.len()
    );
    for word in &sent {
        assert!(
            !after
                .to_ascii_lowercase()
                .contains(&word.to_ascii_lowercase()),
            "{word} reached the metrics:\n{after}"
        );
    }
    // They are counted, under fixed labels.
    assert_eq!(
        http_count(&after, &["method=\"other\""]),
        20,
        "made-up methods count as \"other\":\n{after}"
    );
    assert_eq!(
        http_count(
            &after,
            &["method=\"GET\"", "route=\"unmatched\"", "status=\"404\""]
        ),
        20,
        "unmatched paths count as \"unmatched\":\n{after}"
    );
    // A matched route keeps its template.
    assert!(
        http_count(
            &after,
            &["method=\"GET\"", "route=\"/api/status\"", "status=\"200\""]
        ) >= 1,
        "{after}"
    );
}

/// The webhooks of `project` as `token` lists them.
async fn listed_urls(app: &TestApp, project: &str, token: &str) -> (Vec<String>, String) {
    let list = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks?workspaceId={project}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let urls = list.body["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|w| w["url"].as_str().expect("url").to_string())
        .collect();
    (urls, list.body.to_string())
}

#[tokio::test]
async fn viewers_see_webhook_urls_as_scheme_and_host_only() {
    let app = TestApp::spawn().await;
    let project = app.project("hooks").await;
    let full = "https://hooks.example.com:8443/t/KnownSecretPath?token=KnownSecretQuery#KnownSecretFragment";
    let created = app
        .post(
            "/api/v1/webhooks",
            json!({"workspaceId": project, "environment": "dev", "webhookUrl": full}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.body["webhook"]["url"], full,
        "the creator sees it whole"
    );

    let viewer = app.member_token(&project, "viewer").await;
    let (urls, body) = listed_urls(&app, &project, &viewer).await;
    assert_eq!(urls, vec!["https://hooks.example.com".to_string()]);
    assert!(!body.contains("KnownSecret"), "{body}");
    assert!(!body.contains("8443"), "{body}");

    for token in [
        app.token.clone(),
        app.member_token(&project, "admin").await,
        app.member_token(&project, "member").await,
    ] {
        let (urls, _) = listed_urls(&app, &project, &token).await;
        assert_eq!(urls, vec![full.to_string()], "editors see the whole URL");
    }
}

#[tokio::test]
async fn webhook_urls_and_keys_are_capped_with_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let project = app.project("capped").await;
    let prefix = "https://hooks.example.com/";
    let url_of = |len: usize| format!("{prefix}{}", "a".repeat(len - prefix.len()));
    let create = |url: String, key: String| {
        app.post(
            "/api/v1/webhooks",
            json!({"workspaceId": project, "environment": "dev",
                   "webhookUrl": url, "webhookSecretKey": key}),
        )
    };

    let too_long_url = create(url_of(2049), "k".to_string()).await;
    let message = assert_envelope(&too_long_url, 422);
    assert!(names_field(&message, "webhookUrl"), "{}", too_long_url.body);
    let too_long_key = create(url_of(40), "k".repeat(257)).await;
    let message = assert_envelope(&too_long_key, 422);
    assert!(
        names_field(&message, "webhookSecretKey"),
        "{}",
        too_long_key.body
    );

    let list = app
        .get(&format!("/api/v1/webhooks?workspaceId={project}"))
        .await;
    assert_eq!(list.body["webhooks"], json!([]), "nothing was created");

    // At the limits they are taken.
    let at_limits = create(url_of(2048), "k".repeat(256)).await;
    assert_eq!(at_limits.status, 200, "{}", at_limits.body);
    assert_eq!(at_limits.body["webhook"]["url"], url_of(2048));
}

/// Whether a 422 message (a list of issues) names `field`.
fn names_field(message: &Value, field: &str) -> bool {
    message
        .as_array()
        .is_some_and(|issues| issues.iter().any(|i| i["path"] == json!([field])))
}
