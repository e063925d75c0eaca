//! Folders v2: get by id, rename (one and batch), delete by id or name, recursive lists and
//! descriptions; every write read back at once (the location caches must follow).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};

async fn folder(app: &TestApp, project: &str, path: &str, name: &str) -> Value {
    let res = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": name, "path": path,
                "description": format!("{name} things")}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["folder"].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn get_by_id_answers_upstreams_shape() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-get").await;
    let app_folder = folder(&app, &project, "/", "app").await;
    assert_eq!(app_folder["description"], "app things");
    let db = folder(&app, &project, "/app", "db").await;

    let got = app.get(&format!("/api/v2/folders/{}", id(&db))).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let f = &got.body["folder"];
    assert_eq!(f["id"], db["id"]);
    assert_eq!(f["name"], "db");
    assert_eq!(f["path"], "/app/db");
    assert_eq!(f["projectId"], project.as_str());
    assert_eq!(f["parentId"], app_folder["id"]);
    assert_eq!(f["description"], "db things");
    assert_eq!(f["environment"]["envSlug"], "dev");
    assert_eq!(f["environment"]["envName"], "Development");
    assert_eq!(f["environment"]["envId"], f["envId"]);
    assert!(f["createdAt"].is_string() && f["updatedAt"].is_string());

    assert_envelope(&app.get("/api/v2/folders/no-such-folder").await, 404);
    let outsider = app
        .member_token(&app.project("fv2-other").await, "admin")
        .await;
    let denied = app
        .call(
            Method::GET,
            &format!("/api/v2/folders/{}", id(&db)),
            Some(&outsider),
            None,
        )
        .await;
    assert_envelope(&denied, 403);
    let viewer = app.member_token(&project, "viewer").await;
    let seen = app
        .call(
            Method::GET,
            &format!("/api/v2/folders/{}", id(&db)),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
}

#[tokio::test]
async fn rename_moves_the_subtree_and_its_secrets_at_once() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-rename").await;
    let app_folder = folder(&app, &project, "/", "app").await;
    folder(&app, &project, "/app", "db").await;
    let made = app
        .create_secret(&project, "/app/db", "DB_URL", "pg://x")
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    // Warm the location caches of the old paths.
    let read = |path: &'static str| {
        format!(
            "/api/v3/secrets/raw/DB_URL?workspaceId={project}&environment=dev&secretPath={path}"
        )
    };
    assert_eq!(app.get(&read("/app/db")).await.status, 200);

    let renamed = app
        .patch(
            &format!("/api/v2/folders/{}", id(&app_folder)),
            json!({"projectId": project, "environment": "dev", "name": "service", "path": "/",
                "description": "renamed"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["folder"]["name"], "service");
    assert_eq!(renamed.body["folder"]["path"], "/service");
    assert_eq!(renamed.body["folder"]["description"], "renamed");

    assert_envelope(&app.get(&read("/app/db")).await, 404);
    let moved = app.get(&read("/service/db")).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["secret"]["secretValue"], "pg://x");
    let got = app
        .get(&format!("/api/v2/folders/{}", id(&app_folder)))
        .await;
    assert_eq!(got.body["folder"]["path"], "/service");
    assert_eq!(got.body["folder"]["description"], "renamed");

    // Without a description the old one stays.
    let again = app
        .patch(
            &format!("/api/v2/folders/{}", id(&app_folder)),
            json!({"projectId": project, "environment": "dev", "name": "svc"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["folder"]["description"], "renamed");
    assert_eq!(app.get(&read("/svc/db")).await.status, 200);
}

#[tokio::test]
async fn bad_renames_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-bad").await;
    let a = folder(&app, &project, "/", "a").await;
    folder(&app, &project, "/", "b").await;
    let patch = |body: Value| {
        let path = format!("/api/v2/folders/{}", id(&a));
        let app = &app;
        async move { app.patch(&path, body).await }
    };
    let taken = patch(json!({"projectId": project, "environment": "dev", "name": "b"})).await;
    assert_envelope(&taken, 400);
    let bad_name = patch(json!({"projectId": project, "environment": "dev", "name": "a b"})).await;
    assert_envelope(&bad_name, 422);
    let no_name = patch(json!({"projectId": project, "environment": "dev"})).await;
    assert_envelope(&no_name, 422);
    let no_env = patch(json!({"projectId": project, "name": "c"})).await;
    assert_envelope(&no_env, 422);
    let wrong_env = patch(json!({"projectId": project, "environment": "prod", "name": "c"})).await;
    assert_envelope(&wrong_env, 404);
    let long = patch(
        json!({"projectId": project, "environment": "dev", "name": "c",
        "description": "x".repeat(1025)}),
    )
    .await;
    assert_envelope(&long, 422);
    let missing = app
        .patch(
            "/api/v2/folders/nope",
            json!({"projectId": project, "environment": "dev", "name": "c"}),
        )
        .await;
    assert_envelope(&missing, 404);
    let viewer = app.member_token(&project, "viewer").await;
    let denied = app
        .call(
            Method::PATCH,
            &format!("/api/v2/folders/{}", id(&a)),
            Some(&viewer),
            Some(json!({"projectId": project, "environment": "dev", "name": "c"})),
        )
        .await;
    assert_envelope(&denied, 403);

    let got = app.get(&format!("/api/v2/folders/{}", id(&a))).await;
    assert_eq!(got.body["folder"]["name"], "a");
    assert_eq!(got.body["folder"]["path"], "/a");
}

#[tokio::test]
async fn batch_renames_all_or_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-batch").await;
    let slug = app.get(&format!("/api/v1/projects/{project}")).await.body["project"]["slug"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let a = folder(&app, &project, "/", "a").await;
    let b = folder(&app, &project, "/", "b").await;

    let done = app
        .patch(
            "/api/v2/folders/batch",
            json!({"projectSlug": slug, "folders": [
                {"id": id(&a), "environment": "dev", "name": "a2", "path": "/"},
                {"id": id(&b), "environment": "dev", "name": "b2", "path": "/", "description": "bee"},
            ]}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["folders"][0]["path"], "/a2");
    assert_eq!(done.body["folders"][1]["description"], "bee");
    assert_eq!(done.body["folders"][1]["environment"]["envSlug"], "dev");
    let list = app
        .get(&format!(
            "/api/v2/folders?projectId={project}&environment=dev&path=/"
        ))
        .await;
    let names: Vec<&str> = list.body["folders"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["a2", "b2"]);

    // One bad item: nothing changes.
    let refused = app
        .patch(
            "/api/v2/folders/batch",
            json!({"projectId": project, "folders": [
                {"id": id(&a), "environment": "dev", "name": "a3"},
                {"id": id(&b), "environment": "dev", "name": "a2"},
            ]}),
        )
        .await;
    assert_envelope(&refused, 400);
    let got = app.get(&format!("/api/v2/folders/{}", id(&a))).await;
    assert_eq!(got.body["folder"]["name"], "a2");
    assert_envelope(
        &app.patch(
            "/api/v2/folders/batch",
            json!({"projectId": project, "folders": []}),
        )
        .await,
        422,
    );
    assert_envelope(
        &app.patch(
            "/api/v2/folders/batch",
            json!({"projectId": project, "folders": [], "extra": 1}),
        )
        .await,
        422,
    );
    assert_envelope(
        &app.patch(
            "/api/v2/folders/batch",
            json!({"projectSlug": "no-such-project", "folders": [
                {"id": id(&a), "environment": "dev", "name": "z"}]}),
        )
        .await,
        404,
    );
}

#[tokio::test]
async fn recursive_list_returns_the_whole_subtree() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-tree").await;
    folder(&app, &project, "/", "a").await;
    folder(&app, &project, "/a", "b").await;
    folder(&app, &project, "/a/b", "c").await;
    folder(&app, &project, "/", "z").await;
    let list = |query: &str| format!("/api/v2/folders?projectId={project}&environment=dev&{query}");
    let paths = |v: &Value| -> Vec<String> {
        v["folders"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f["path"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let all = app.get(&list("path=/&recursive=true")).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(paths(&all.body), ["/a", "/a/b", "/a/b/c", "/z"]);
    // Python's requests sends `True`.
    let under = app.get(&list("path=/a&recursive=True")).await;
    assert_eq!(paths(&under.body), ["/a/b", "/a/b/c"]);
    assert_eq!(under.body["folders"][1]["relativePath"], "/b/c");
    let flat = app.get(&list("path=/&recursive=false")).await;
    assert_eq!(paths(&flat.body), ["/a", "/z"]);
    let v1 = app
        .get(&format!(
            "/api/v1/folders?workspaceId={project}&environment=dev&recursive=true"
        ))
        .await;
    assert_eq!(paths(&v1.body).len(), 4);
    assert_envelope(&app.get(&list("path=/nope&recursive=true")).await, 404);
}

#[tokio::test]
async fn delete_by_id_or_name_on_v2() {
    let app = TestApp::spawn().await;
    let project = app.project("fv2-delete").await;
    let a = folder(&app, &project, "/", "a").await;
    folder(&app, &project, "/", "b").await;
    let body =
        json!({"projectId": project, "environment": "dev", "path": "/", "forceDelete": false});
    // Warm the location of /a.
    let loc = format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev&secretPath=/a");
    assert_eq!(app.get(&loc).await.status, 200);

    let by_id = app
        .delete(&format!("/api/v2/folders/{}", id(&a)), body.clone())
        .await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);
    assert_eq!(by_id.body["folder"]["id"], a["id"]);
    assert_envelope(&app.get(&loc).await, 404);
    assert_envelope(&app.get(&format!("/api/v2/folders/{}", id(&a))).await, 404);

    let by_name = app.delete("/api/v2/folders/b", body.clone()).await;
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_envelope(&app.delete("/api/v2/folders/b", body.clone()).await, 404);
    assert_envelope(
        &app.delete("/api/v2/folders/b", json!({"projectId": project}))
            .await,
        422,
    );
}

#[tokio::test]
async fn a_renamed_folder_shows_at_once_in_its_rotations() {
    let rig = crate::rotation_support::Rig::new().await;
    let jobs = folder(&rig.app, &rig.project, "/", "jobs").await;
    let mut body = rig.body("nested", "NESTED");
    body["secretPath"] = json!("/jobs");
    let created = rig.app.post(crate::rotation_support::ROTATIONS, body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let rotation = created.body["secretRotation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        rig.get(&rotation).await.body["secretRotation"]["folder"]["path"],
        "/jobs"
    );

    let renamed = rig
        .app
        .patch(
            &format!("/api/v2/folders/{}", id(&jobs)),
            json!({"projectId": rig.project, "environment": "dev", "name": "batch"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let view = rig.get(&rotation).await;
    assert_eq!(
        view.body["secretRotation"]["folder"]["path"], "/batch",
        "{}",
        view.body
    );
    let secret = rig
        .app
        .get(&format!(
            "/api/v3/secrets/raw/NESTED?workspaceId={}&environment=dev&secretPath=/batch",
            rig.project
        ))
        .await;
    assert_eq!(secret.status, 200, "{}", secret.body);
    assert_eq!(secret.body["secret"]["rotationId"], rotation.as_str());
}
