use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

#[tokio::test]
async fn project_roles_allow_what_they_should() {
    let app = TestApp::spawn().await;
    let project = app.project("roles").await;
    app.create_secret(&project, "/", "EXISTING", "v").await;
    let read_path = format!("/api/v3/secrets/raw/EXISTING?workspaceId={project}&environment=dev");
    let write = |key: &str| {
        (
            format!("/api/v3/secrets/raw/{key}"),
            json!({"workspaceId": project, "environment": "dev", "secretValue": "x"}),
        )
    };

    for (role, can_read, can_write) in [
        ("admin", true, true),
        ("member", true, true),
        ("viewer", true, false),
        ("no-access", false, false),
    ] {
        let token = app.member_token(&project, role).await;
        let read = app.call(Method::GET, &read_path, Some(&token), None).await;
        if can_read {
            assert_eq!(read.status, 200, "{role} reads: {}", read.body);
        } else {
            assert_envelope(&read, 403);
        }
        let (path, body) = write(&format!("K_{}", role.replace('-', "_")));
        let created = app
            .call(Method::POST, &path, Some(&token), Some(body))
            .await;
        if can_write {
            assert_eq!(created.status, 200, "{role} writes: {}", created.body);
        } else {
            let message = assert_envelope(&created, 403);
            assert_eq!(message, "You are not allowed to create on secrets");
            assert_eq!(created.body["error"], "PermissionDenied");
        }
    }
}

#[tokio::test]
async fn a_token_of_another_project_gets_403() {
    let app = TestApp::spawn().await;
    let mine = app.project("mine").await;
    let theirs = app.project("theirs").await;
    app.create_secret(&theirs, "/", "THEIRS", "v").await;
    let token = app.member_token(&mine, "admin").await;
    let res = app
        .call(
            Method::GET,
            &format!("/api/v3/secrets/raw/THEIRS?workspaceId={theirs}&environment=dev"),
            Some(&token),
            None,
        )
        .await;
    assert_envelope(&res, 403);
    let projects = app
        .call(Method::GET, "/api/v1/projects", Some(&token), None)
        .await;
    let ids: Vec<&str> = projects.body["projects"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![mine.as_str()]);
    // Organization-level actions need an org role.
    let create_identity = app
        .call(
            Method::POST,
            "/api/v1/identities",
            Some(&token),
            Some(json!({"name": "x", "organizationId": app.org_id, "role": "member"})),
        )
        .await;
    assert_envelope(&create_identity, 403);
}

#[tokio::test]
async fn unknown_project_is_404() {
    let app = TestApp::spawn().await;
    let res = app
        .get("/api/v3/secrets/raw?workspaceId=00000000-0000-0000-0000-000000000000&environment=dev")
        .await;
    assert_envelope(&res, 404);
}
