//! The read caches across replicas (docs/ARCHITECTURE.md, "Caches"): a change made through one
//! replica is seen at once by the next request on that replica, and within a second by
//! another replica on the same database (PostgreSQL through `NOTIFY`, SQLite through the file's
//! change counter), whatever the other replica had cached.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use rotad::Server;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// How long another replica may serve what a change replaced.
const REPLICA_LAG: Duration = Duration::from_secs(1);

/// A second server on the test app's database.
struct Replica {
    server: Option<Server>,
    base: String,
    http: reqwest::Client,
}

impl Replica {
    async fn start(app: &TestApp) -> Replica {
        let server = Server::start(&app.args)
            .await
            .expect("second replica starts");
        Replica {
            base: server.url(),
            server: Some(server),
            http: app.http.clone(),
        }
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .request(Method::GET, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds; returns how long that took, or fails after twice the
    /// allowed lag (the assertion on the lag itself is the caller's).
    async fn until(
        &self,
        path: &str,
        token: &str,
        done: impl Fn(StatusCode, &Value) -> bool,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(path, token).await;
            if done(status, &body) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < REPLICA_LAG * 2,
                "replica still answers {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("replica stops");
        }
    }
}

fn secret_path(project: &str, key: &str) -> String {
    format!("/api/v3/secrets/raw/{key}?workspaceId={project}&environment=dev&secretPath=/")
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_here_and_within_a_second_on_another_replica() {
    let app = TestApp::spawn().await;
    let mut b = Replica::start(&app).await;
    let project = app.project("replicas").await;
    assert_eq!(
        app.create_secret(&project, "/", "KEY", "v1").await.status,
        200
    );
    let token = app.member_token(&project, "viewer").await;
    let path = secret_path(&project, "KEY");

    // Both replicas have the token's context cached.
    assert_eq!(
        app.call(Method::GET, &path, Some(&token), None)
            .await
            .status,
        200
    );
    assert_eq!(b.get(&path, &token).await.0, 200);

    let revoked = app
        .call(
            Method::POST,
            "/api/v1/auth/token/revoke",
            None,
            Some(json!({"accessToken": token})),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(
        app.call(Method::GET, &path, Some(&token), None)
            .await
            .status,
        401,
        "the replica that revoked must refuse the token at once"
    );
    let lag = b.until(&path, &token, |s, _| s == 401).await;
    assert!(lag <= REPLICA_LAG, "the other replica took {lag:?}");
    b.stop().await;
}

#[tokio::test]
async fn a_removed_role_stops_counting_at_once_here_and_within_a_second_on_another_replica() {
    let app = TestApp::spawn().await;
    let mut b = Replica::start(&app).await;
    let project = app.project("replicas").await;
    assert_eq!(
        app.create_secret(&project, "/", "KEY", "v1").await.status,
        200
    );
    let (id, client_id, secret) = app.identity("reader", "no-access").await;
    let member = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "viewer", "isTemporary": false}]}),
        )
        .await;
    assert_eq!(member.status, 200, "{}", member.body);
    let login = app.login(&client_id, &secret).await;
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let path = secret_path(&project, "KEY");
    assert_eq!(
        app.call(Method::GET, &path, Some(&token), None)
            .await
            .status,
        200
    );
    assert_eq!(b.get(&path, &token).await.0, 200);

    let removed = app
        .delete(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(
        app.call(Method::GET, &path, Some(&token), None)
            .await
            .status,
        403
    );
    let lag = b.until(&path, &token, |s, _| s == 403).await;
    assert!(lag <= REPLICA_LAG, "the other replica took {lag:?}");
    b.stop().await;
}

#[tokio::test]
async fn a_secret_written_on_one_replica_is_read_back_from_another_within_a_second() {
    let app = TestApp::spawn().await;
    let mut b = Replica::start(&app).await;
    let project = app.project("replicas").await;
    assert_eq!(
        app.create_secret(&project, "/", "KEY", "v1").await.status,
        200
    );
    let path = secret_path(&project, "KEY");
    let value = |body: &Value| body["secret"]["secretValue"].as_str().map(str::to_string);
    assert_eq!(
        value(&b.get(&path, &app.token).await.1).as_deref(),
        Some("v1")
    );

    for next in ["v2", "v3"] {
        let updated = app
            .patch(
                "/api/v3/secrets/raw/KEY",
                json!({"workspaceId": project, "environment": "dev", "secretPath": "/", "secretValue": next}),
            )
            .await;
        assert_eq!(updated.status, 200, "{}", updated.body);
        // The writing replica answers the new value to the very next read.
        let here = app.get(&path).await;
        assert_eq!(value(&here.body).as_deref(), Some(next));
        let lag = b
            .until(&path, &app.token, |_, body| {
                value(body).as_deref() == Some(next)
            })
            .await;
        assert!(lag <= REPLICA_LAG, "the other replica took {lag:?}");
    }
    b.stop().await;
}

#[tokio::test]
async fn a_rotation_read_from_the_cache_follows_every_patch_at_once() {
    let mut rig = crate::rotation_support::Rig::new().await;
    let id = rig.rotation("cached", "CACHED_TOKEN").await;
    let path = format!("/api/v2/secret-rotations/dbt-service-token/{id}");
    for n in 0..5 {
        let before = rig.app.get(&path).await;
        assert_eq!(before.status, 200, "{}", before.body);
        let description = format!("edit {n}");
        let patched = rig
            .app
            .patch(&path, json!({"description": description}))
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        let after = rig.app.get(&path).await;
        assert_eq!(
            after.body["secretRotation"]["description"],
            json!(description)
        );
    }
    rig.app.stop().await;
}

#[tokio::test]
async fn renamed_folders_and_environments_are_followed_by_another_replica_within_a_second() {
    let app = TestApp::spawn().await;
    let mut b = Replica::start(&app).await;
    let project = app.project("replicas").await;
    let folder = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": "app", "path": "/"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    let folder_id = folder.body["folder"]["id"].as_str().unwrap_or_default();
    assert_eq!(
        app.create_secret(&project, "/app", "KEY", "v1")
            .await
            .status,
        200
    );
    let read = |env: &str, path: &str| {
        format!("/api/v3/secrets/raw/KEY?workspaceId={project}&environment={env}&secretPath={path}")
    };
    // The other replica has the old location cached.
    assert_eq!(b.get(&read("dev", "/app"), &app.token).await.0, 200);

    let renamed = app
        .patch(
            &format!("/api/v2/folders/{folder_id}"),
            json!({"projectId": project, "environment": "dev", "name": "service"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let lag = b
        .until(&read("dev", "/app"), &app.token, |s, _| s == 404)
        .await;
    assert!(lag <= REPLICA_LAG, "the other replica took {lag:?}");
    assert_eq!(b.get(&read("dev", "/service"), &app.token).await.0, 200);

    let envs = app
        .get(&format!("/api/v1/projects/{project}/environments"))
        .await;
    let dev = envs.body["environments"][0]["id"]
        .as_str()
        .unwrap_or_default();
    let moved = app
        .patch(
            &format!("/api/v1/projects/{project}/environments/{dev}"),
            json!({"slug": "development"}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let lag = b
        .until(&read("dev", "/service"), &app.token, |s, _| s == 404)
        .await;
    assert!(lag <= REPLICA_LAG, "the other replica took {lag:?}");
    assert_eq!(
        b.get(&read("development", "/service"), &app.token).await.0,
        200
    );
    b.stop().await;
}
