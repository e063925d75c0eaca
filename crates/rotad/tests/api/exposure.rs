//! Security hardening (docs/SECURITY.md): see the tests below.
//!
//! What the server exposes: metrics whose label sets a caller cannot grow.

use std::collections::BTreeSet;

use reqwest::Method;

use crate::helpers::TestApp;

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
