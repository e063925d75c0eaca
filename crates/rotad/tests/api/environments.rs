//! Environments: create, get, list, update, delete under `/api/v1/workspace/{id}` and
//! `/api/v1/projects/{id}`, and projects created without the default environments.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};
use crate::rotation_support::{Rig, ROTATIONS};

fn slugs(v: &Value) -> Vec<String> {
    v["environments"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["slug"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn create_update_delete_on_both_prefixes() {
    let app = TestApp::spawn().await;
    let project = app.project("envs").await;
    let workspace = format!("/api/v1/workspace/{project}/environments");
    let projects = format!("/api/v1/projects/{project}/environments");

    // As the Node SDK sends it: the project id repeated in the body.
    let made = app
        .post(
            &workspace,
            json!({"projectId": project, "name": "QA", "slug": "qa"}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.body["workspace"], project.as_str());
    assert!(made.body["message"].is_string());
    let qa = made.body["environment"].clone();
    assert_eq!(qa["slug"], "qa");
    assert_eq!(qa["position"], 4);
    assert_eq!(qa["projectId"], project.as_str());
    let qa_id = qa["id"].as_str().unwrap_or_default().to_string();

    // A new environment is usable at once: its root folder exists.
    let secret = app
        .post(
            "/api/v3/secrets/raw/QA_KEY",
            json!({"workspaceId": project, "environment": "qa", "secretValue": "v"}),
        )
        .await;
    assert_eq!(secret.status, 200, "{}", secret.body);

    let first = app
        .post(
            &projects,
            json!({"name": "Local", "slug": "local", "position": 1}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let listed = app.get(&projects).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        slugs(&listed.body),
        ["local", "dev", "staging", "prod", "qa"]
    );
    assert_eq!(slugs(&app.get(&workspace).await.body).len(), 5);
    let project_view = app.get(&format!("/api/v1/projects/{project}")).await;
    assert_eq!(
        project_view.body["project"]["environments"]
            .as_array()
            .map(Vec::len),
        Some(5)
    );

    let got = app.get(&format!("{workspace}/{qa_id}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["environment"]["name"], "QA");

    // Rename the slug: reads by the old slug stop at once, by the new one work.
    let read = |env: &str| {
        format!("/api/v3/secrets/raw/QA_KEY?workspaceId={project}&environment={env}&secretPath=/")
    };
    assert_eq!(app.get(&read("qa")).await.status, 200);
    let updated = app
        .patch(
            &format!("{projects}/{qa_id}"),
            json!({"name": "Quality", "slug": "quality", "position": 2}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["environment"]["slug"], "quality");
    assert_eq!(updated.body["environment"]["position"], 2);
    let order = app.get(&projects).await;
    assert_eq!(
        slugs(&order.body),
        ["local", "quality", "dev", "staging", "prod"]
    );
    let positions: Vec<i64> = order.body["environments"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["position"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    assert_envelope(&app.get(&read("qa")).await, 404);
    assert_eq!(app.get(&read("quality")).await.status, 200);

    // Holding a secret, it cannot go; emptied, it can.
    let refused = app.delete(&format!("{workspace}/{qa_id}"), json!({})).await;
    let message = assert_envelope(&refused, 400);
    assert!(
        message.as_str().is_some_and(|m| m.contains("1 secret")),
        "{message}"
    );
    let gone = app
        .delete(
            "/api/v3/secrets/raw/QA_KEY",
            json!({"workspaceId": project, "environment": "quality"}),
        )
        .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    let deleted = app.delete(&format!("{workspace}/{qa_id}"), json!({})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["environment"]["id"], qa_id.as_str());
    assert_envelope(&app.get(&format!("{workspace}/{qa_id}")).await, 404);
    assert_envelope(&app.get(&read("quality")).await, 404);
    assert_eq!(slugs(&app.get(&projects).await.body).len(), 4);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("envs-bad").await;
    let url = format!("/api/v1/workspace/{project}/environments");
    let dev_id = app.get(&url).await.body["environments"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (body, status) in [
        (json!({"name": "Dev again", "slug": "dev"}), 400),
        (json!({"name": "X", "slug": "Not A Slug"}), 422),
        (json!({"name": "X", "slug": "a--b"}), 422),
        (json!({"name": "", "slug": "x"}), 422),
        (json!({"name": "X"}), 422),
        (json!({"name": "X", "slug": "x".repeat(65)}), 422),
        (json!({"name": "X", "slug": "x", "position": 0}), 422),
        (json!({"name": "X", "slug": "x", "unknown": true}), 422),
        (
            json!({"name": "X", "slug": "x", "projectId": "another"}),
            400,
        ),
    ] {
        assert_envelope(&app.post(&url, body.clone()).await, status);
    }
    assert_envelope(
        &app.patch(&format!("{url}/{dev_id}"), json!({"slug": "prod"}))
            .await,
        400,
    );
    assert_envelope(
        &app.patch(&format!("{url}/{dev_id}"), json!({"slug": "BAD"}))
            .await,
        422,
    );
    assert_envelope(
        &app.patch(&format!("{url}/nope"), json!({"name": "x"}))
            .await,
        404,
    );
    assert_envelope(&app.delete(&format!("{url}/nope"), json!({})).await, 404);
    assert_envelope(
        &app.post(
            "/api/v1/workspace/no-such-project/environments",
            json!({"name": "X", "slug": "x"}),
        )
        .await,
        404,
    );
    assert_eq!(slugs(&app.get(&url).await.body), ["dev", "staging", "prod"]);
}

#[tokio::test]
async fn only_project_admins_write_and_no_access_sees_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("envs-roles").await;
    let url = format!("/api/v1/projects/{project}/environments");
    for role in ["member", "viewer"] {
        let token = app.member_token(&project, role).await;
        let read = app.call(Method::GET, &url, Some(&token), None).await;
        assert_eq!(read.status, 200, "{role}: {}", read.body);
        let write = app
            .call(
                Method::POST,
                &url,
                Some(&token),
                Some(json!({"name": "X", "slug": "x"})),
            )
            .await;
        assert_envelope(&write, 403);
    }
    let none = app.member_token(&project, "no-access").await;
    assert_envelope(&app.call(Method::GET, &url, Some(&none), None).await, 403);
    let admin = app.member_token(&project, "admin").await;
    let made = app
        .call(
            Method::POST,
            &url,
            Some(&admin),
            Some(json!({"name": "X", "slug": "x"})),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
}

#[tokio::test]
async fn projects_without_default_environments() {
    let app = TestApp::spawn().await;
    let bare = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": "bare", "shouldCreateDefaultEnvs": false}),
        )
        .await;
    assert_eq!(bare.status, 200, "{}", bare.body);
    assert_eq!(bare.body["project"]["environments"], json!([]));
    let full = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": "full", "shouldCreateDefaultEnvs": true}),
        )
        .await;
    assert_eq!(
        full.body["project"]["environments"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_envelope(
        &app.post(
            "/api/v2/workspace",
            json!({"projectName": "x", "shouldCreateDefaultEnvs": "no"}),
        )
        .await,
        422,
    );
    let id = bare.body["project"]["id"].as_str().unwrap_or_default();
    let env = app
        .post(
            &format!("/api/v1/workspace/{id}/environments"),
            json!({"name": "Only", "slug": "only"}),
        )
        .await;
    assert_eq!(env.status, 200, "{}", env.body);
    assert_eq!(env.body["environment"]["position"], 1);
}

#[tokio::test]
async fn environments_with_folders_or_rotations_are_kept() {
    let rig = Rig::new().await;
    let url = format!("/api/v1/workspace/{}/environments", rig.project);
    let envs = rig.app.get(&url).await;
    let dev = envs.body["environments"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let staging = envs.body["environments"][1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let folder = rig
        .app
        .post(
            "/api/v2/folders",
            json!({"projectId": rig.project, "environment": "staging", "name": "jobs"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    let refused = rig.app.delete(&format!("{url}/{staging}"), json!({})).await;
    let message = assert_envelope(&refused, 400);
    assert!(
        message.as_str().is_some_and(|m| m.contains("1 folder")),
        "{message}"
    );

    let id = rig.rotation("envkeeper", "ENV_KEEPER").await;
    let refused = rig.app.delete(&format!("{url}/{dev}"), json!({})).await;
    let message = assert_envelope(&refused, 400);
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("1 secret rotation")),
        "{message}"
    );
    // A renamed environment shows at once in the rotation's view.
    let renamed = rig
        .app
        .patch(&format!("{url}/{dev}"), json!({"slug": "development"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let view = rig.app.get(&format!("{ROTATIONS}/{id}")).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(
        view.body["secretRotation"]["environment"]["slug"],
        "development"
    );
}

#[tokio::test]
async fn project_slugs_follow_upstreams_rules() {
    let app = TestApp::spawn().await;
    let long_name = "A Very Long Project Name That Goes On And On For Ever";
    let made = app
        .post("/api/v2/workspace", json!({"projectName": long_name}))
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let slug = made.body["project"]["slug"].as_str().unwrap_or_default();
    assert!(
        (5..=36).contains(&slug.len()) && slug.starts_with("a-very-long-project"),
        "{slug}"
    );
    let named = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": "p", "slug": "my-app"}),
        )
        .await;
    assert_eq!(named.body["project"]["slug"], "my-app", "{}", named.body);
    for (slug, status) in [
        ("abcd", 422),
        (&*"a".repeat(37), 422),
        ("My-App", 422),
        ("my-app", 400),
    ] {
        assert_envelope(
            &app.post(
                "/api/v2/workspace",
                json!({"projectName": "p", "slug": slug}),
            )
            .await,
            status,
        );
    }
}
