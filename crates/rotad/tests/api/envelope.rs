use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

#[tokio::test]
async fn framework_errors_carry_the_envelope() {
    let app = TestApp::spawn().await;
    let unknown = app.get("/api/v9/nothing").await;
    assert_envelope(&unknown, 404);
    assert_eq!(unknown.body["docs"], "/api/docs/json");

    let method = app
        .call(Method::PUT, "/api/v3/secrets/raw", Some(&app.token), None)
        .await;
    assert_envelope(&method, 405);

    let malformed = app
        .http
        .post(format!("{}/api/v2/workspace", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"projectName\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(malformed.status(), 400);

    let huge = "x".repeat(5 * 1024 * 1024);
    let big = app
        .post("/api/v2/workspace", json!({"projectName": huge}))
        .await;
    assert_envelope(&big, 413);

    let invalid = app
        .post("/api/v2/workspace", json!({"projectName": 7}))
        .await;
    assert_envelope(&invalid, 422);
    assert_eq!(invalid.body["error"], "ValidationFailure");
    assert_eq!(invalid.body["message"][0]["path"], json!(["projectName"]));
}

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/api/docs/json", None, None).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    for path in [
        "/api/status",
        "/api/v1/admin/bootstrap",
        "/api/v1/auth/universal-auth/login",
        "/api/v1/auth/token/renew",
        "/api/v1/auth/token/revoke",
        "/api/v1/identities",
        "/api/v1/identities/{identityId}",
        "/api/v1/auth/universal-auth/identities/{identityId}",
        "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets",
        "/api/v1/projects/{projectId}/memberships/identities/{identityId}",
        "/api/v2/workspace",
        "/api/v1/projects",
        "/api/v1/projects/{projectId}",
        "/api/v1/folders",
        "/api/v2/folders",
        "/api/v2/folders/{folderId}",
        "/api/v2/folders/batch",
        "/api/v1/workspace/{projectId}/environments",
        "/api/v1/workspace/{projectId}/environments/{envId}",
        "/api/v1/projects/{projectId}/environments",
        "/api/v1/projects/{projectId}/environments/{envId}",
        "/api/v3/secrets/raw",
        "/api/v3/secrets/raw/{secretName}",
        "/api/v4/secrets",
        "/api/v4/secrets/{secretName}",
        "/api/v1/organization/audit-logs",
    ] {
        assert!(paths.contains_key(path), "OpenAPI document lists {path}");
    }
    let secret_get = &doc.body["paths"]["/api/v3/secrets/raw/{secretName}"]["get"]["responses"];
    for status in ["200", "400", "401", "403", "404", "422", "500"] {
        assert!(secret_get.get(status).is_some(), "documents {status}");
    }
}

#[tokio::test]
async fn nul_characters_are_refused_everywhere_and_change_nothing() {
    let app = TestApp::spawn().await;
    let body = app
        .post("/api/v2/workspace", json!({"projectName": "bad\u{0}name"}))
        .await;
    let message = assert_envelope(&body, 422);
    assert_eq!(message[0]["path"], json!(["projectName"]), "{message}");
    let nested = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": "ok", "extra": {"list": ["a", "b\u{0}"]}}),
        )
        .await;
    let message = assert_envelope(&nested, 422);
    assert_eq!(message[0]["path"], json!(["extra", "list", 1]), "{message}");
    let query = app.get("/api/v1/app-connections/dbt?projectId=%00x").await;
    assert_envelope(&query, 422);
    let path = app
        .get("/api/v3/secrets/raw/A%00B?workspaceId=x&environment=dev")
        .await;
    assert_envelope(&path, 422);
    let projects = app.get("/api/v1/projects").await;
    assert_eq!(projects.body["projects"], json!([]), "{}", projects.body);
}

#[tokio::test]
async fn every_operation_names_its_error_answers_with_the_envelope() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/api/docs/json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let shared = doc.body["components"]["responses"]
        .as_object()
        .expect("shared responses");
    let mut operations = 0;
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            for status in ["400", "401", "403", "404", "413", "422", "429", "500"] {
                let answer = &op["responses"][status];
                // Either the operation's own description of that error, or the shared one.
                let answer = match answer["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference
                            .strip_prefix("#/components/responses/")
                            .unwrap_or_else(|| panic!("{method} {path} {status}: {reference}"));
                        shared
                            .get(name)
                            .unwrap_or_else(|| panic!("{method} {path}: no response {name}"))
                    }
                    None => answer,
                };
                assert_eq!(
                    answer["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope",
                    "{method} {path} {status}: {answer}"
                );
            }
        }
    }
    assert!(operations > 100, "{operations} operations");
}
