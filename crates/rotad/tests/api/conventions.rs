//! HTTP conventions: trailing slashes, entity tags on secret reads, upstream's status answer,
//! and the 404 of routes rotad does not implement.

use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

#[tokio::test]
async fn a_trailing_slash_reaches_the_route_and_its_metrics_label() {
    let app = TestApp::spawn_with(|a| {
        a.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await;
    let project = app.project("slashes").await;
    let status = app.call(Method::GET, "/api/status/", None, None).await;
    assert_eq!(status.status, 200, "{}", status.body);

    let created = app
        .post(
            "/api/v3/secrets/raw/SLASHED/",
            json!({"workspaceId": project, "environment": "dev", "secretValue": "v1"}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let read = app
        .get(&format!(
            "/api/v3/secrets/raw/SLASHED/?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["secret"]["secretValue"], "v1");
    let list = app
        .get(&format!(
            "/api/v3/secrets/raw/?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["secrets"].as_array().map(Vec::len), Some(1));
    // An unknown route stays unknown with or without its slash.
    assert_envelope(&app.get("/api/v9/nothing/").await, 404);

    let addr = app
        .server
        .as_ref()
        .and_then(|s| s.metrics_addr)
        .expect("metrics address");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    for series in [
        "method=\"GET\",route=\"/api/status\",status=\"200\"",
        "method=\"POST\",route=\"/api/v3/secrets/raw/{secretName}\",status=\"200\"",
        "method=\"GET\",route=\"/api/v3/secrets/raw\",status=\"200\"",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    assert!(!text.contains("SLASHED"), "{text}");
}

/// A GET with `If-None-Match`.
async fn conditional_get(app: &TestApp, path: &str, tag: &str) -> (u16, String, String) {
    let res = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .header(IF_NONE_MATCH, tag)
        .send()
        .await
        .expect("send");
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, etag, res.text().await.expect("body"))
}

#[tokio::test]
async fn secret_reads_carry_an_etag_and_answer_304_when_unchanged() {
    let app = TestApp::spawn().await;
    let project = app.project("etags").await;
    assert_eq!(
        app.create_secret(&project, "/", "TAGGED", "v1")
            .await
            .status,
        200
    );
    let query = format!("workspaceId={project}&environment=dev");
    for path in [
        format!("/api/v3/secrets/raw/TAGGED?{query}"),
        format!("/api/v3/secrets/raw?{query}"),
        format!("/api/v4/secrets/TAGGED?projectId={project}&environment=dev"),
        format!("/api/v4/secrets?projectId={project}&environment=dev"),
    ] {
        let first = app.get(&path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        let tag = first
            .headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_string();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        assert!(!tag.contains("v1"));

        let (status, again, body) = conditional_get(&app, &path, &tag).await;
        assert_eq!(status, 304, "{path}");
        assert_eq!(again, tag);
        assert!(body.is_empty(), "a 304 has no body: {body}");
        let (status, _, body) = conditional_get(&app, &path, &format!("\"x\", W/{tag}")).await;
        assert_eq!((status, body.is_empty()), (304, true), "{path}");
        let (status, _, body) = conditional_get(&app, &path, "\"stale\"").await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("TAGGED"));
    }

    // A change gives a new tag: the old one no longer matches.
    let path = format!("/api/v3/secrets/raw/TAGGED?{query}");
    let old = app.get(&path).await.headers[ETAG.as_str()]
        .to_str()
        .expect("etag")
        .to_string();
    let update = app
        .patch(
            "/api/v3/secrets/raw/TAGGED",
            json!({"workspaceId": project, "environment": "dev", "secretValue": "v2"}),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.body);
    let (status, new, body) = conditional_get(&app, &path, &old).await;
    assert_eq!(status, 200);
    assert_ne!(new, old);
    assert!(body.contains("v2"), "{body}");
    // Errors are not tagged.
    let missing = app.get(&format!("/api/v3/secrets/raw/NOPE?{query}")).await;
    assert_envelope(&missing, 404);
    assert!(missing.headers.get(ETAG).is_none());
}

#[tokio::test]
async fn the_openapi_document_names_the_304_of_secret_reads() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/api/docs/json", None, None).await;
    assert_eq!(doc.status, 200);
    for path in [
        "/api/v3/secrets/raw",
        "/api/v3/secrets/raw/{secretName}",
        "/api/v4/secrets",
    ] {
        assert!(
            doc.body["paths"][path]["get"]["responses"]["304"].is_object(),
            "{path}"
        );
    }
    assert!(doc.body["paths"]["/api/v1/webhooks"]["get"]["responses"]["304"].is_null());
}

#[tokio::test]
async fn status_answers_upstreams_fields() {
    let app = TestApp::spawn().await;
    let status = app.call(Method::GET, "/api/status", None, None).await;
    assert_eq!(status.status, 200, "{}", status.body);
    let body = &status.body;
    assert_eq!(body["message"], "Ok");
    let date = body["date"].as_str().expect("date");
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
    for flag in [
        "emailConfigured",
        "inviteOnlySignup",
        "redisConfigured",
        "secretScanningConfigured",
        "auditLogStorageDisabled",
    ] {
        assert_eq!(body[flag], false, "{flag}: {body}");
    }
}

#[tokio::test]
async fn routes_rotad_does_not_implement_say_so() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/api/v1/kms/keys?projectId=x"),
        (Method::POST, "/api/v1/kms/keys/abc/encrypt"),
        (Method::POST, "/api/v1/dynamic-secrets/leases"),
        (Method::POST, "/api/v1/auth/aws-auth/login"),
        (Method::POST, "/api/v1/auth/gcp-auth/login"),
        (Method::POST, "/api/v1/auth/azure-auth/login"),
        (Method::POST, "/api/v1/auth/kubernetes-auth/login"),
        (Method::POST, "/api/v1/auth/oidc-auth/login/"),
    ] {
        let answer = app
            .call(method.clone(), path, None, Some(json!({"identityId": "x"})))
            .await;
        let message = assert_envelope(&answer, 404);
        let message = message.as_str().unwrap_or_default();
        assert!(
            message.starts_with("rotad does not implement"),
            "{method} {path}: {message}"
        );
        assert_eq!(answer.body["docs"], "/api/docs/json");
    }
    let unknown = app.get("/api/v1/kmsx").await;
    let message = assert_envelope(&unknown, 404);
    assert_eq!(message, "Route GET:/api/v1/kmsx not found");
}
