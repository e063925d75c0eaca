//! `PATCH /api/v1/secret-imports/{id}` (and the v2 spelling): an import's source (environment,
//! path) and its place among the folder's imports.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, Answer, TestApp};

async fn folder(app: &TestApp, project: &str, env: &str, name: &str) {
    let res = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": env, "path": "/", "name": name}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn import(app: &TestApp, project: &str, env: &str, path: &str) -> String {
    let res = app
        .post(
            "/api/v1/secret-imports",
            json!({"workspaceId": project, "environment": "dev", "path": "/", "import": {"environment": env, "path": path}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secretImport"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn patch(app: &TestApp, project: &str, id: &str, change: Value) -> Answer {
    app.patch(
        &format!("/api/v1/secret-imports/{id}"),
        json!({"workspaceId": project, "environment": "dev", "path": "/", "import": change}),
    )
    .await
}

/// The folder's imports as (id, position, environment slug, path), in the listed order.
async fn listed(app: &TestApp, project: &str) -> Vec<(String, i64, String, String)> {
    let res = app
        .get(&format!(
            "/api/v1/secret-imports?workspaceId={project}&environment=dev&path=/"
        ))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secretImports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_string(),
                i["position"].as_i64().unwrap_or_default(),
                i["importEnv"]["slug"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                i["importPath"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn ids(list: &[(String, i64, String, String)]) -> Vec<&str> {
    list.iter().map(|(id, ..)| id.as_str()).collect()
}

#[tokio::test]
async fn an_import_moves_to_a_new_place_and_the_others_keep_their_order() {
    let app = TestApp::spawn().await;
    let project = app.project("reorder").await;
    folder(&app, &project, "prod", "shared").await;
    let a = import(&app, &project, "prod", "/").await;
    let b = import(&app, &project, "staging", "/").await;
    let c = import(&app, &project, "prod", "/shared").await;

    let moved = patch(&app, &project, &c, json!({"position": 1})).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["message"], "Successfully updated secret import");
    assert_eq!(moved.body["secretImport"]["position"], 1);
    assert_eq!(moved.body["secretImport"]["importPath"], "/shared");
    let now = listed(&app, &project).await;
    assert_eq!(ids(&now), [c.as_str(), &a, &b]);
    assert_eq!(
        now.iter().map(|(_, p, ..)| *p).collect::<Vec<_>>(),
        [1, 2, 3]
    );

    // Past the end means last; the v2 spelling (projectId) does the same.
    let last = app
        .patch(
            &format!("/api/v2/secret-imports/{c}"),
            json!({"projectId": project, "environment": "dev", "import": {"position": 99}}),
        )
        .await;
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(last.body["secretImport"]["position"], 3);
    assert_eq!(ids(&listed(&app, &project).await), [a.as_str(), &b, &c]);

    // After a delete the places close up on the next move.
    let deleted = app
        .delete(
            &format!("/api/v1/secret-imports/{a}"),
            json!({"workspaceId": project, "environment": "dev", "path": "/"}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let second = patch(&app, &project, &b, json!({"position": 2})).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let now = listed(&app, &project).await;
    assert_eq!(ids(&now), [c.as_str(), &b]);
    assert_eq!(now.iter().map(|(_, p, ..)| *p).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn an_import_changes_its_source_and_reads_follow() {
    let app = TestApp::spawn().await;
    let project = app.project("resource").await;
    folder(&app, &project, "prod", "shared").await;
    let put = |env: &'static str, path: &'static str, value: &'static str| {
        app.post(
            "/api/v3/secrets/raw/FROM_IMPORT",
            json!({"workspaceId": project, "environment": env, "secretPath": path, "secretValue": value}),
        )
    };
    assert_eq!(put("prod", "/", "prod-root").await.status, 200);
    assert_eq!(put("prod", "/shared", "prod-shared").await.status, 200);
    let id = import(&app, &project, "prod", "/").await;
    let read = format!(
        "/api/v3/secrets/raw/FROM_IMPORT?workspaceId={project}&environment=dev&secretPath=/&include_imports=true"
    );
    assert_eq!(
        app.get(&read).await.body["secret"]["secretValue"],
        "prod-root"
    );

    let changed = patch(&app, &project, &id, json!({"path": "/shared/"})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["secretImport"]["importPath"], "/shared");
    assert_eq!(changed.body["secretImport"]["importEnv"]["slug"], "prod");
    assert_eq!(changed.body["secretImport"]["position"], 1);
    assert_eq!(
        app.get(&read).await.body["secret"]["secretValue"],
        "prod-shared"
    );
    let list = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev&secretPath=/&include_imports=true"
        ))
        .await;
    assert_eq!(
        list.body["imports"][0]["secretPath"], "/shared",
        "{}",
        list.body
    );

    // Another environment, the path kept.
    let staging = patch(
        &app,
        &project,
        &id,
        json!({"environment": "staging", "path": "/"}),
    )
    .await;
    assert_eq!(staging.status, 200, "{}", staging.body);
    assert_eq!(staging.body["secretImport"]["importEnv"]["slug"], "staging");
    assert_envelope(&app.get(&read).await, 404);
    let audit = app
        .get(&format!(
            "/api/v1/organization/audit-logs?projectId={project}&eventType=update-secret-import"
        ))
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(
        audit.body["auditLogs"].as_array().map(Vec::len),
        Some(2),
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn bad_import_updates_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("refuse").await;
    let a = import(&app, &project, "prod", "/").await;
    let b = import(&app, &project, "staging", "/").await;
    let before = listed(&app, &project).await;

    // Validation: a place before the first, an empty environment, unknown keys, no import.
    for change in [
        json!({"position": 0}),
        json!({"position": -3}),
        json!({"environment": " "}),
        json!({"isReplication": true}),
        json!({"position": "first"}),
    ] {
        assert_envelope(&patch(&app, &project, &a, change.clone()).await, 422);
    }
    let no_import = app
        .patch(
            &format!("/api/v1/secret-imports/{a}"),
            json!({"workspaceId": project, "environment": "dev"}),
        )
        .await;
    assert_envelope(&no_import, 422);
    let no_project = app
        .patch(
            &format!("/api/v1/secret-imports/{a}"),
            json!({"environment": "dev", "import": {"position": 1}}),
        )
        .await;
    assert_envelope(&no_project, 422);

    // What the folder imports already, its own secrets, a folder or environment that is not
    // there, an import that is not this folder's.
    assert_envelope(
        &patch(&app, &project, &a, json!({"environment": "staging"})).await,
        400,
    );
    assert_envelope(
        &patch(
            &app,
            &project,
            &a,
            json!({"environment": "dev", "path": "/"}),
        )
        .await,
        400,
    );
    assert_envelope(
        &patch(&app, &project, &a, json!({"path": "/nowhere"})).await,
        404,
    );
    assert_envelope(
        &patch(&app, &project, &a, json!({"environment": "nope"})).await,
        404,
    );
    let missing = patch(
        &app,
        &project,
        "00000000-0000-0000-0000-000000000000",
        json!({"position": 1}),
    )
    .await;
    assert_envelope(&missing, 404);
    let elsewhere = app
        .patch(
            &format!("/api/v1/secret-imports/{a}"),
            json!({"workspaceId": project, "environment": "staging", "import": {"position": 2}}),
        )
        .await;
    assert_envelope(&elsewhere, 404);

    // A viewer may read imports, not change them; no token at all is a 401.
    let viewer = app.member_token(&project, "viewer").await;
    let body = json!({"workspaceId": project, "environment": "dev", "import": {"position": 2}});
    let denied = app
        .call(
            Method::PATCH,
            &format!("/api/v1/secret-imports/{a}"),
            Some(&viewer),
            Some(body.clone()),
        )
        .await;
    assert_envelope(&denied, 403);
    let anonymous = app
        .call(
            Method::PATCH,
            &format!("/api/v1/secret-imports/{a}"),
            None,
            Some(body),
        )
        .await;
    assert_envelope(&anonymous, 401);

    assert_eq!(listed(&app, &project).await, before);
    assert_eq!(ids(&before), [a.as_str(), &b]);
}
