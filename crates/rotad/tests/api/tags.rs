//! Secret tags: `/api/v1/workspace/{projectId}/tags`, `tagIds` on secret writes, `tagSlugs`
//! on lists, tags in secret answers.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};

fn tags_path(project: &str) -> String {
    format!("/api/v1/workspace/{project}/tags")
}

async fn tag(app: &TestApp, project: &str, slug: &str) -> String {
    let res = app
        .post(
            &tags_path(project),
            json!({"slug": slug, "color": "#ff0000"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["workspaceTag"]["slug"], slug);
    res.body["workspaceTag"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn keys(list: &Value) -> Vec<String> {
    list["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s["secretKey"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn tag_lifecycle_and_bad_input() {
    let app = TestApp::spawn().await;
    let project = app.project("tags").await;
    let id = tag(&app, &project, "backend").await;

    let list = app.get(&tags_path(&project)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["workspaceTags"].as_array().map(Vec::len), Some(1));
    let got = app.get(&format!("{}/{id}", tags_path(&project))).await;
    assert_eq!(got.body["workspaceTag"]["color"], "#ff0000");
    let by_slug = app
        .get(&format!("{}/slug/backend", tags_path(&project)))
        .await;
    assert_eq!(by_slug.body["workspaceTag"]["id"], id.as_str());

    let renamed = app
        .patch(
            &format!("{}/{id}", tags_path(&project)),
            json!({"slug": "api", "color": "blue"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["workspaceTag"]["slug"], "api");
    assert_eq!(renamed.body["workspaceTag"]["color"], "blue");

    // Bad input: 4xx, nothing changes.
    for body in [
        json!({"slug": "Not A Slug", "color": "x"}),
        json!({"slug": "", "color": "x"}),
        json!({"slug": "x".repeat(65), "color": "x"}),
        json!({"color": "x"}),
        json!({"slug": "ok", "color": "x", "unknown": 1}),
        json!({"slug": "ok", "color": "x".repeat(65)}),
    ] {
        let res = app.post(&tags_path(&project), body.clone()).await;
        assert_envelope(&res, 422);
    }
    let dup = app
        .post(&tags_path(&project), json!({"slug": "api", "color": "x"}))
        .await;
    assert_envelope(&dup, 400);
    let clash = tag(&app, &project, "other").await;
    let res = app
        .patch(
            &format!("{}/{clash}", tags_path(&project)),
            json!({"slug": "api"}),
        )
        .await;
    assert_envelope(&res, 400);
    let list = app.get(&tags_path(&project)).await;
    let slugs: Vec<&str> = list.body["workspaceTags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["slug"].as_str())
        .collect();
    assert_eq!(slugs, vec!["api", "other"]);

    let missing = app
        .get(&format!("{}/{}", tags_path(&project), uuid::Uuid::new_v4()))
        .await;
    assert_envelope(&missing, 404);
    let unknown_project = app.get(&tags_path(&uuid::Uuid::new_v4().to_string())).await;
    assert_envelope(&unknown_project, 404);

    let deleted = app
        .delete(&format!("{}/{id}", tags_path(&project)), json!({}))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = app.get(&format!("{}/{id}", tags_path(&project))).await;
    assert_envelope(&gone, 404);
}

#[tokio::test]
async fn secrets_carry_tags_and_lists_filter_by_slug() {
    let app = TestApp::spawn().await;
    let project = app.project("tagged").await;
    let backend = tag(&app, &project, "backend").await;
    let db = tag(&app, &project, "db").await;
    let created = app
        .post(
            "/api/v3/secrets/raw/DB_URL",
            json!({"workspaceId": project, "environment": "dev", "secretValue": "v", "tagIds": [backend, db]}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let tags = created.body["secret"]["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 2);
    assert!(tags
        .iter()
        .all(|t| t["id"].is_string() && t["slug"].is_string() && t["name"].is_string()));
    assert_eq!(
        app.create_secret(&project, "/", "PLAIN", "p").await.status,
        200
    );
    let v4 = app
        .post(
            "/api/v4/secrets/API_KEY",
            json!({"projectId": project, "environment": "dev", "secretValue": "k", "tagIds": [backend]}),
        )
        .await;
    assert_eq!(v4.status, 200, "{}", v4.body);

    let list = |slugs: &str| {
        format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev&tagSlugs={slugs}")
    };
    assert_eq!(
        keys(&app.get(&list("backend")).await.body),
        vec!["API_KEY", "DB_URL"]
    );
    assert_eq!(keys(&app.get(&list("db")).await.body), vec!["DB_URL"]);
    assert_eq!(
        keys(&app.get(&list("db,backend")).await.body),
        vec!["API_KEY", "DB_URL"]
    );
    assert!(keys(&app.get(&list("nope")).await.body).is_empty());
    assert_eq!(keys(&app.get(&list("")).await.body).len(), 3);

    // A read by name shows the tags.
    let got = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_URL?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(got.body["secret"]["tags"].as_array().map(Vec::len), Some(2));

    // An update replaces the tags; an unknown tag id is refused and changes nothing.
    let bad = app
        .patch(
            "/api/v3/secrets/raw/DB_URL",
            json!({"workspaceId": project, "environment": "dev", "secretValue": "changed", "tagIds": [uuid::Uuid::new_v4().to_string()]}),
        )
        .await;
    assert_envelope(&bad, 404);
    let same = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_URL?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(same.body["secret"]["secretValue"], "v");
    assert_eq!(same.body["secret"]["version"], 1);
    let updated = app
        .patch(
            "/api/v3/secrets/raw/DB_URL",
            json!({"workspaceId": project, "environment": "dev", "tagIds": [db]}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["secret"]["tags"][0]["slug"], "db");
    assert_eq!(keys(&app.get(&list("backend")).await.body), vec!["API_KEY"]);

    // A deleted tag disappears from the secrets that carried it.
    let res = app
        .delete(&format!("{}/{db}", tags_path(&project)), json!({}))
        .await;
    assert_eq!(res.status, 200);
    let after = app
        .get(&format!(
            "/api/v3/secrets/raw/DB_URL?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(after.body["secret"]["tags"], json!([]));
}

#[tokio::test]
async fn tags_follow_project_permissions() {
    let app = TestApp::spawn().await;
    let project = app.project("tag-perms").await;
    let id = tag(&app, &project, "seen").await;
    let viewer = app.member_token(&project, "viewer").await;
    let none = app.member_token(&project, "no-access").await;
    let member = app.member_token(&project, "member").await;

    let list = app
        .call(Method::GET, &tags_path(&project), Some(&viewer), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let write = app
        .call(
            Method::POST,
            &tags_path(&project),
            Some(&viewer),
            Some(json!({"slug": "nope", "color": "x"})),
        )
        .await;
    assert_envelope(&write, 403);
    let patch = app
        .call(
            Method::PATCH,
            &format!("{}/{id}", tags_path(&project)),
            Some(&viewer),
            Some(json!({"slug": "nope"})),
        )
        .await;
    assert_envelope(&patch, 403);
    let hidden = app
        .call(Method::GET, &tags_path(&project), Some(&none), None)
        .await;
    assert_envelope(&hidden, 403);
    let by_member = app
        .call(
            Method::POST,
            &tags_path(&project),
            Some(&member),
            Some(json!({"slug": "mine", "color": "x"})),
        )
        .await;
    assert_eq!(by_member.status, 200, "{}", by_member.body);
    let list = app.get(&tags_path(&project)).await;
    assert_eq!(list.body["workspaceTags"].as_array().map(Vec::len), Some(2));
}

/// The newer `/api/v1/projects/{projectId}/tags` spelling manages the same tags.
#[tokio::test]
async fn the_projects_spelling_manages_the_same_tags() {
    let app = TestApp::spawn().await;
    let project = app.project("tags-v1-projects").await;
    let path = format!("/api/v1/projects/{project}/tags");
    let created = app
        .post(&path, json!({"slug": "infra", "color": "green"}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["tag"]["id"].as_str().expect("id").to_string();
    let listed = app.get(&path).await;
    assert_eq!(listed.body["tags"][0]["slug"], "infra");
    let old = app.get(&tags_path(&project)).await;
    assert_eq!(old.body["workspaceTags"][0]["id"], id.as_str());
    let by_slug = app.get(&format!("{path}/slug/infra")).await;
    assert_eq!(by_slug.body["tag"]["id"], id.as_str());
    let patched = app
        .patch(&format!("{path}/{id}"), json!({"color": "black"}))
        .await;
    assert_eq!(patched.body["tag"]["color"], "black");
    assert_envelope(
        &app.patch(&format!("{path}/{id}"), json!({"name": "x"}))
            .await,
        422,
    );
    let deleted = app.delete(&format!("{path}/{id}"), json!({})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_envelope(&app.get(&format!("{path}/{id}")).await, 404);
}
