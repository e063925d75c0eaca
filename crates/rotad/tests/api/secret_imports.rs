//! Secret imports: `/api/v1/secret-imports` and `/api/v2/secret-imports`, `include_imports` on
//! the raw reads.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};

async fn put(app: &TestApp, project: &str, env: &str, path: &str, key: &str, value: &str) {
    let res = app
        .post(
            &format!("/api/v3/secrets/raw/{key}"),
            json!({"workspaceId": project, "environment": env, "secretPath": path, "secretValue": value}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn import(app: &TestApp, project: &str, env: &str, path: &str) -> Value {
    let res = app
        .post(
            "/api/v1/secret-imports",
            json!({"workspaceId": project, "environment": "dev", "path": "/", "import": {"environment": env, "path": path}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secretImport"].clone()
}

fn list_path(project: &str) -> String {
    format!("/api/v1/secret-imports?workspaceId={project}&environment=dev&path=/")
}

#[tokio::test]
async fn imports_are_created_listed_read_and_deleted() {
    let app = TestApp::spawn().await;
    let project = app.project("imports").await;
    let folder = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "prod", "path": "/", "name": "shared"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    put(&app, &project, "prod", "/shared", "SHARED_KEY", "from-prod").await;
    put(&app, &project, "prod", "/shared", "REF", "${OWN}").await;
    put(&app, &project, "prod", "/shared", "OWN", "prod-own").await;
    put(
        &app,
        &project,
        "staging",
        "/",
        "STAGING_KEY",
        "from-staging",
    )
    .await;
    put(&app, &project, "staging", "/", "SHARED_KEY", "staging-wins").await;
    put(&app, &project, "dev", "/", "LOCAL", "dev-local").await;

    let first = import(&app, &project, "prod", "/shared").await;
    assert_eq!(first["importPath"], "/shared");
    assert_eq!(first["importEnv"]["slug"], "prod");
    assert_eq!(first["position"], 1);
    let second = import(&app, &project, "staging", "/").await;
    assert_eq!(second["position"], 2);

    let listed = app.get(&list_path(&project)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let imports = listed.body["secretImports"].as_array().expect("imports");
    assert_eq!(imports.len(), 2);
    assert_eq!(imports[0]["id"], first["id"]);
    // The v2 spelling lists the same.
    let v2 = app
        .get(&format!(
            "/api/v2/secret-imports?projectId={project}&environment=dev"
        ))
        .await;
    assert_eq!(v2.body["secretImports"].as_array().map(Vec::len), Some(2));

    // The raw list answers what each import brings, in the shape clients parse.
    let list = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev&include_imports=true&expandSecretReferences=true"
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["secrets"].as_array().map(Vec::len), Some(1));
    let brought = list.body["imports"].as_array().expect("imports");
    assert_eq!(brought.len(), 2);
    assert_eq!(brought[0]["environment"], "prod");
    assert_eq!(brought[0]["secretPath"], "/shared");
    assert!(brought[0]["folderId"].is_string());
    let prod_keys: Vec<&str> = brought[0]["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["secretKey"].as_str())
        .collect();
    assert_eq!(prod_keys, vec!["OWN", "REF", "SHARED_KEY"]);
    // An imported secret's references are expanded where it lives.
    let r = brought[0]["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .find(|s| s["secretKey"] == "REF")
        .expect("REF");
    assert_eq!(r["secretValue"], "prod-own");
    // Without the flag, imports stay empty.
    let plain = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(plain.body["imports"], json!([]));

    // A read by name falls back to the imports (the last import holding the key wins) when
    // asked; otherwise a 404.
    let by_name = |key: &str, flag: &str| {
        format!("/api/v3/secrets/raw/{key}?workspaceId={project}&environment=dev&{flag}")
    };
    let got = app
        .get(&by_name("SHARED_KEY", "include_imports=true"))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["secret"]["secretValue"], "staging-wins");
    let got = app
        .get(&by_name("STAGING_KEY", "includeImports=true"))
        .await;
    assert_eq!(got.body["secret"]["secretValue"], "from-staging");
    assert_envelope(
        &app.get(&by_name("STAGING_KEY", "include_imports=false"))
            .await,
        404,
    );
    assert_envelope(
        &app.get(&by_name("NOWHERE", "include_imports=true")).await,
        404,
    );

    // Delete one: its secrets are no longer brought.
    let id = second["id"].as_str().expect("id");
    let deleted = app
        .delete(
            &format!("/api/v1/secret-imports/{id}"),
            json!({"workspaceId": project, "environment": "dev", "path": "/"}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["secretImport"]["id"], id);
    let got = app
        .get(&by_name("SHARED_KEY", "include_imports=true"))
        .await;
    assert_eq!(got.body["secret"]["secretValue"], "from-prod");
    let again = app
        .delete(
            &format!("/api/v1/secret-imports/{id}"),
            json!({"workspaceId": project, "environment": "dev", "path": "/"}),
        )
        .await;
    assert_envelope(&again, 404);
    let listed = app.get(&list_path(&project)).await;
    assert_eq!(
        listed.body["secretImports"].as_array().map(Vec::len),
        Some(1)
    );
    // By id (v2): the remaining import; the deleted one and an unknown id are 404s.
    let first_id = first["id"].as_str().expect("id");
    let by_id = app.get(&format!("/api/v2/secret-imports/{first_id}")).await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    assert_eq!(by_id.body["secretImport"]["importEnv"]["slug"], "prod");
    assert_eq!(by_id.body["secretImport"]["importPath"], "/shared");
    assert_envelope(&app.get(&format!("/api/v2/secret-imports/{id}")).await, 404);
    assert_envelope(&app.get("/api/v2/secret-imports/not-an-id").await, 404);
}

#[tokio::test]
async fn bad_imports_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("imports-bad").await;
    let base = json!({"workspaceId": project, "environment": "dev", "path": "/"});
    let with = |import: Value| {
        let mut body = base.clone();
        body["import"] = import;
        body
    };
    for (body, status) in [
        (
            with(json!({"environment": "prod", "path": "/missing"})),
            404,
        ),
        (with(json!({"environment": "nowhere", "path": "/"})), 404),
        (with(json!({"environment": "dev", "path": "/"})), 400),
        (with(json!({"environment": "prod", "path": "/../x"})), 422),
        (with(json!({"environment": "", "path": "/"})), 422),
        (
            with(json!({"environment": "prod", "path": "/", "extra": 1})),
            422,
        ),
        (base.clone(), 422),
        (
            json!({"environment": "dev", "import": {"environment": "prod"}}),
            422,
        ),
    ] {
        let res = app.post("/api/v1/secret-imports", body.clone()).await;
        assert_envelope(&res, status);
    }
    let mut replicated = with(json!({"environment": "prod", "path": "/"}));
    replicated["isReplication"] = json!(true);
    assert_envelope(&app.post("/api/v1/secret-imports", replicated).await, 400);
    let ok = app
        .post(
            "/api/v1/secret-imports",
            with(json!({"environment": "prod", "path": "/"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let dup = app
        .post(
            "/api/v1/secret-imports",
            with(json!({"environment": "prod"})),
        )
        .await;
    assert_envelope(&dup, 400);
    let listed = app.get(&list_path(&project)).await;
    assert_eq!(
        listed.body["secretImports"].as_array().map(Vec::len),
        Some(1)
    );
    assert_envelope(
        &app.get(&format!("/api/v1/secret-imports?workspaceId={project}"))
            .await,
        422,
    );
}

#[tokio::test]
async fn imports_follow_project_permissions() {
    let app = TestApp::spawn().await;
    let project = app.project("imports-perm").await;
    put(&app, &project, "prod", "/", "PROD_ONLY", "prod-value").await;
    let created = import(&app, &project, "prod", "/").await;
    let viewer = app.member_token(&project, "viewer").await;
    let none = app.member_token(&project, "no-access").await;

    let listed = app
        .call(Method::GET, &list_path(&project), Some(&viewer), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let read = app
        .call(
            Method::GET,
            &format!(
                "/api/v3/secrets/raw?workspaceId={project}&environment=dev&include_imports=true"
            ),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(
        read.body["imports"][0]["secrets"][0]["secretValue"],
        "prod-value"
    );
    let write = app
        .call(
            Method::POST,
            "/api/v1/secret-imports",
            Some(&viewer),
            Some(json!({"workspaceId": project, "environment": "dev", "import": {"environment": "staging"}})),
        )
        .await;
    assert_envelope(&write, 403);
    let id = created["id"].as_str().expect("id");
    let delete = app
        .call(
            Method::DELETE,
            &format!("/api/v1/secret-imports/{id}"),
            Some(&viewer),
            Some(json!({"workspaceId": project, "environment": "dev"})),
        )
        .await;
    assert_envelope(&delete, 403);
    for path in [
        list_path(&project),
        format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev&include_imports=true"),
    ] {
        let res = app.call(Method::GET, &path, Some(&none), None).await;
        assert_envelope(&res, 403);
        assert!(!res.body.to_string().contains("prod-value"));
    }
    let listed = app.get(&list_path(&project)).await;
    assert_eq!(
        listed.body["secretImports"].as_array().map(Vec::len),
        Some(1)
    );
    let by_id = app
        .call(
            Method::GET,
            &format!("/api/v2/secret-imports/{id}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    let hidden = app
        .call(
            Method::GET,
            &format!("/api/v2/secret-imports/{id}"),
            Some(&none),
            None,
        )
        .await;
    assert_envelope(&hidden, 403);
}
