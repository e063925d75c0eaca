use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

const REQUIRED: [&str; 11] = [
    "id",
    "_id",
    "workspace",
    "environment",
    "version",
    "type",
    "secretKey",
    "secretValue",
    "secretComment",
    "createdAt",
    "updatedAt",
];

#[tokio::test]
async fn secret_lifecycle_with_versions() {
    let app = TestApp::spawn().await;
    let project = app.project("secrets").await;
    let created = app
        .post(
            "/api/v3/secrets/raw/DB_PASSWORD",
            json!({"workspaceId": project, "environment": "dev", "secretPath": "/", "secretValue": "one", "secretComment": "primary", "type": "shared", "skipMultilineEncoding": false, "tagIds": []}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let secret = &created.body["secret"];
    for field in REQUIRED {
        assert!(!secret[field].is_null(), "secret has {field}: {secret}");
    }
    assert_eq!(secret["version"], 1);
    assert_eq!(secret["secretComment"], "primary");
    assert_eq!(secret["isRotatedSecret"], false);
    assert_eq!(secret["rotationId"], serde_json::Value::Null);
    assert_eq!(secret["secretMetadata"], json!([]));

    let dup = app.create_secret(&project, "/", "DB_PASSWORD", "x").await;
    assert_envelope(&dup, 400);

    let updated = app
        .patch(
            "/api/v3/secrets/raw/DB_PASSWORD",
            json!({"workspaceId": project, "environment": "dev", "secretValue": "two"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["secret"]["version"], 2);
    assert_eq!(updated.body["secret"]["secretComment"], "primary");

    let current = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_PASSWORD?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(current.body["secret"]["secretValue"], "two");
    let old = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_PASSWORD?workspaceId={project}&environment=dev&version=1"
        ))
        .await;
    assert_eq!(old.body["secret"]["secretValue"], "one");
    assert_eq!(old.body["secret"]["version"], 1);

    let renamed = app
        .patch(
            "/api/v3/secrets/raw/DB_PASSWORD",
            json!({"workspaceId": project, "environment": "dev", "newSecretName": "DB_PASS"}),
        )
        .await;
    assert_eq!(
        renamed.body["secret"]["secretKey"], "DB_PASS",
        "{}",
        renamed.body
    );
    assert_eq!(renamed.body["secret"]["secretValue"], "two");

    let deleted = app
        .delete("/api/v3/secrets/raw/DB_PASS", json!({"workspaceId": project, "environment": "dev", "secretPath": "/", "type": "shared"}))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_PASS?workspaceId={project}&environment=dev"
        ))
        .await;
    let message = assert_envelope(&gone, 404);
    assert_eq!(message, "Secret with name 'DB_PASS' not found");
}

#[tokio::test]
async fn reads_tolerate_what_real_clients_send() {
    let app = TestApp::spawn().await;
    let project = app.project("tolerant").await;
    app.create_secret(&project, "/", "API_KEY", "k").await;

    // Unknown keys, an unencoded slash, a trailing ampersand, and no secretPath at all.
    let get = app
        .get(&format!(
            "/api/v3/secrets/raw/API_KEY?secretName=API_KEY&workspaceId={project}&environment=dev&includeImports=false&expandSecretReferences=true&secretPath=/&viewSecretValue=true&"
        ))
        .await;
    assert_eq!(get.status, 200, "{}", get.body);

    // A GET with a JSON body and content type (legacy client, Python SDK).
    let res = app
        .http
        .get(format!("{}/api/v3/secrets/raw?workspaceId={project}&environment=dev&include_imports=true&recursive=false", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(json!({"workspaceId": project, "environment": "dev"}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["imports"], json!([]));
    assert_eq!(body["secrets"][0]["secretKey"], "API_KEY");

    let v4 = app
        .get(&format!(
            "/api/v4/secrets?projectId={project}&environment=dev&includeImports=true"
        ))
        .await;
    assert_eq!(v4.body["secrets"][0]["secretKey"], "API_KEY", "{}", v4.body);
    let v4_one = app
        .get(&format!(
            "/api/v4/secrets/API_KEY?projectId={project}&environment=dev&type=shared"
        ))
        .await;
    assert_eq!(v4_one.body["secret"]["secretValue"], "k");

    let hidden = app.get(&format!("/api/v3/secrets/raw/API_KEY?workspaceId={project}&environment=dev&viewSecretValue=false")).await;
    assert_eq!(hidden.body["secret"]["secretValueHidden"], true);
    assert_ne!(hidden.body["secret"]["secretValue"], "k");

    let bad_env = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=nope"
        ))
        .await;
    assert_envelope(&bad_env, 404);
    let no_env = app
        .get(&format!("/api/v3/secrets/raw?workspaceId={project}"))
        .await;
    assert_envelope(&no_env, 422);
}

#[tokio::test]
async fn nested_folders_and_recursive_listing() {
    let app = TestApp::spawn().await;
    let project = app.project("folders").await;
    let a = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": "app", "path": "/"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let b = app
        .post(
            "/api/v1/folders",
            json!({"workspaceId": project, "environment": "dev", "name": "db", "path": "/app"}),
        )
        .await;
    assert_eq!(b.body["folder"]["path"], "/app/db", "{}", b.body);
    app.create_secret(&project, "/", "TOP", "1").await;
    let nested = app.create_secret(&project, "/app/db/", "NESTED", "2").await;
    assert_eq!(
        nested.body["secret"]["secretPath"], "/app/db",
        "{}",
        nested.body
    );

    let flat = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(flat.body["secrets"].as_array().map(Vec::len), Some(1));
    let deep = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev&recursive=true"
        ))
        .await;
    assert_eq!(deep.body["secrets"].as_array().map(Vec::len), Some(2));

    let folders = app
        .get(&format!(
            "/api/v1/folders?workspaceId={project}&environment=dev&path=/app"
        ))
        .await;
    assert_eq!(folders.body["folders"][0]["name"], "db");

    let missing = app.create_secret(&project, "/nowhere", "X", "1").await;
    assert_envelope(&missing, 404);

    let del = app
        .call(
            Method::DELETE,
            "/api/v1/folders/app",
            Some(&app.token),
            Some(json!({"workspaceId": project, "environment": "dev", "path": "/"})),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    let after = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev&recursive=true"
        ))
        .await;
    assert_eq!(
        after.body["secrets"].as_array().map(Vec::len),
        Some(1),
        "folder deletion takes its secrets"
    );
}

#[tokio::test]
async fn secret_names_are_checked() {
    let app = TestApp::spawn().await;
    let project = app.project("names").await;
    let colon = app.create_secret(&project, "/", "A:B", "x").await;
    assert_envelope(&colon, 422);
    let personal = app
        .post("/api/v3/secrets/raw/P", json!({"workspaceId": project, "environment": "dev", "secretValue": "x", "type": "personal"}))
        .await;
    assert_envelope(&personal, 400);
}
