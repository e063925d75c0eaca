//! Batches (`/api/v3/secrets/batch/raw`, `/api/v4/secrets/batch`) are all or nothing; the v4
//! single-secret writes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};
use crate::rotation_support::Rig;

const V3: &str = "/api/v3/secrets/batch/raw";
const V4: &str = "/api/v4/secrets/batch";

/// Every secret of the project's `dev` root: key → (value, version).
async fn state(app: &TestApp, project: &str) -> Vec<(String, String, i64)> {
    let res = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| {
            (
                s["secretKey"].as_str().unwrap_or_default().to_string(),
                s["secretValue"].as_str().unwrap_or_default().to_string(),
                s["version"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn batch(project: &str, secrets: Value) -> Value {
    json!({"workspaceId": project, "environment": "dev", "secretPath": "/", "secrets": secrets})
}

#[tokio::test]
async fn a_batch_creates_updates_and_deletes_all_together() {
    let app = TestApp::spawn().await;
    let project = app.project("batch").await;
    let created = app
        .post(
            V3,
            batch(
                &project,
                json!([
                    {"secretKey": "A", "secretValue": "a1", "secretComment": "first"},
                    {"secretKey": "B", "secretValue": "b1"},
                    {"secretKey": "C", "secretValue": "c1", "skipMultilineEncoding": true},
                ]),
            ),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["secrets"].as_array().map(Vec::len), Some(3));
    assert_eq!(created.body["secrets"][0]["secretComment"], "first");
    assert_eq!(
        state(&app, &project).await,
        vec![
            ("A".into(), "a1".into(), 1),
            ("B".into(), "b1".into(), 1),
            ("C".into(), "c1".into(), 1)
        ]
    );

    // Swap-free rename and value changes in one go.
    let updated = app
        .patch(
            V3,
            batch(
                &project,
                json!([
                    {"secretKey": "A", "secretValue": "a2"},
                    {"secretKey": "B", "newSecretName": "B2"},
                ]),
            ),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        state(&app, &project).await,
        vec![
            ("A".into(), "a2".into(), 2),
            ("B2".into(), "b1".into(), 2),
            ("C".into(), "c1".into(), 1)
        ]
    );
    // The past value is kept as a version.
    let old = app
        .get(&format!(
            "/api/v3/secrets/raw/A?workspaceId={project}&environment=dev&version=1"
        ))
        .await;
    assert_eq!(old.body["secret"]["secretValue"], "a1");

    let deleted = app
        .delete(
            V3,
            batch(&project, json!([{"secretKey": "A"}, {"secretKey": "C"}])),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["secrets"][0]["secretValue"], "a2");
    assert_eq!(
        state(&app, &project).await,
        vec![("B2".into(), "b1".into(), 2)]
    );

    // v4 takes projectId.
    let v4 = app
        .post(
            V4,
            json!({"projectId": project, "environment": "dev", "secrets": [{"secretKey": "D", "secretValue": "d"}]}),
        )
        .await;
    assert_eq!(v4.status, 200, "{}", v4.body);
    let v4 = app
        .patch(
            V4,
            json!({"projectId": project, "environment": "dev", "secrets": [{"secretKey": "D", "secretValue": "d2"}]}),
        )
        .await;
    assert_eq!(v4.status, 200, "{}", v4.body);
    let v4 = app
        .delete(
            V4,
            json!({"projectId": project, "environment": "dev", "secrets": [{"secretKey": "B2"}]}),
        )
        .await;
    assert_eq!(v4.status, 200, "{}", v4.body);
    assert_eq!(
        state(&app, &project).await,
        vec![("D".into(), "d2".into(), 2)]
    );
}

#[tokio::test]
async fn one_bad_item_refuses_the_whole_batch() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let project = rig.project.clone();
    rig.rotation("batched", "ROTATED").await;
    for key in ["X", "Y"] {
        assert_eq!(
            app.create_secret(&project, "/", key, "orig").await.status,
            200
        );
    }
    let before = state(app, &project).await;
    let cases: Vec<(Method, Value, u16)> = vec![
        (
            Method::POST,
            json!([{"secretKey": "NEW", "secretValue": "n"}, {"secretKey": "X", "secretValue": "dup"}]),
            400,
        ),
        (
            Method::POST,
            json!([{"secretKey": "NEW", "secretValue": "n"}, {"secretKey": "NEW", "secretValue": "n"}]),
            400,
        ),
        (
            Method::POST,
            json!([{"secretKey": "NEW", "secretValue": "n"}, {"secretKey": "bad/key", "secretValue": "n"}]),
            422,
        ),
        (Method::POST, json!([{"secretKey": "NEW"}]), 422),
        (
            Method::POST,
            json!([{"secretKey": "NEW", "secretValue": "n", "tagIds": ["no-such-tag"]}]),
            404,
        ),
        (Method::POST, json!([]), 422),
        (
            Method::POST,
            json!([{"secretKey": "NEW", "secretValue": "n", "secretPath": "/elsewhere"}]),
            422,
        ),
        (
            Method::PATCH,
            json!([{"secretKey": "X", "secretValue": "x2"}, {"secretKey": "MISSING", "secretValue": "m"}]),
            404,
        ),
        (
            Method::PATCH,
            json!([{"secretKey": "X", "secretValue": "x2"}, {"secretKey": "ROTATED", "secretValue": "r"}]),
            400,
        ),
        (
            Method::PATCH,
            json!([{"secretKey": "X", "newSecretName": "Y"}]),
            400,
        ),
        (
            Method::PATCH,
            json!([{"secretKey": "X", "newSecretName": "Z"}, {"secretKey": "Y", "newSecretName": "Z"}]),
            400,
        ),
        (
            Method::DELETE,
            json!([{"secretKey": "X"}, {"secretKey": "MISSING"}]),
            404,
        ),
        (
            Method::DELETE,
            json!([{"secretKey": "X"}, {"secretKey": "ROTATED"}]),
            400,
        ),
    ];
    for (method, secrets, status) in cases {
        let res = app
            .call(
                method.clone(),
                V3,
                Some(&app.token),
                Some(batch(&project, secrets.clone())),
            )
            .await;
        assert_envelope(&res, status);
        assert_eq!(
            state(app, &project).await,
            before,
            "{method} {secrets} changed nothing"
        );
    }
    // A malformed body changes nothing either.
    let res = app
        .call(
            Method::POST,
            V3,
            Some(&app.token),
            Some(json!({"workspaceId": project})),
        )
        .await;
    assert_envelope(&res, 422);

    // Viewers cannot write; no-access cannot either.
    for role in ["viewer", "no-access"] {
        let token = app.member_token(&project, role).await;
        let res = app
            .call(
                Method::POST,
                V3,
                Some(&token),
                Some(batch(
                    &project,
                    json!([{"secretKey": "NEW", "secretValue": "n"}]),
                )),
            )
            .await;
        assert_envelope(&res, 403);
    }
    assert_eq!(state(app, &project).await, before);
}

#[tokio::test]
async fn v4_single_secret_writes() {
    let app = TestApp::spawn().await;
    let project = app.project("v4-writes").await;
    let body = |extra: Value| {
        let mut b = json!({"projectId": project, "environment": "dev", "secretPath": "/"});
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    let created = app
        .post(
            "/api/v4/secrets/TOKEN",
            body(json!({"secretValue": "t1", "secretComment": "c"})),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["secret"]["secretKey"], "TOKEN");
    let updated = app
        .patch(
            "/api/v4/secrets/TOKEN",
            body(json!({"secretValue": "t2", "newSecretName": "TOKEN2"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["secret"]["secretKey"], "TOKEN2");
    let read = app
        .get(&format!(
            "/api/v4/secrets/TOKEN2?projectId={project}&environment=dev"
        ))
        .await;
    assert_eq!(read.body["secret"]["secretValue"], "t2");
    let dup = app
        .post("/api/v4/secrets/TOKEN2", body(json!({"secretValue": "x"})))
        .await;
    assert_envelope(&dup, 400);
    let no_project = app
        .post(
            "/api/v4/secrets/OTHER",
            json!({"environment": "dev", "secretValue": "x"}),
        )
        .await;
    assert_envelope(&no_project, 422);
    let deleted = app.delete("/api/v4/secrets/TOKEN2", body(json!({}))).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let gone = app
        .get(&format!(
            "/api/v4/secrets/TOKEN2?projectId={project}&environment=dev"
        ))
        .await;
    assert_envelope(&gone, 404);
    // `batch` under v4 is the batch route's path: a secret of that name is read by v3.
    let batch_named = app.create_secret(&project, "/", "batch", "b").await;
    assert_eq!(batch_named.status, 200, "{}", batch_named.body);
    let shadowed = app
        .get(&format!(
            "/api/v4/secrets/batch?projectId={project}&environment=dev"
        ))
        .await;
    assert_envelope(&shadowed, 405);
    let by_v3 = app
        .get(&format!(
            "/api/v3/secrets/raw/batch?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(by_v3.body["secret"]["secretValue"], "b");
    let viewer = app.member_token(&project, "viewer").await;
    let res = app
        .call(
            Method::POST,
            "/api/v4/secrets/V",
            Some(&viewer),
            Some(body(json!({"secretValue": "v"}))),
        )
        .await;
    assert_envelope(&res, 403);
}
