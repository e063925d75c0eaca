//! `${…}` references expanded on read (`expandSecretReferences=true`).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, TestApp};
use crate::rotation_support::Rig;

async fn folder(app: &TestApp, project: &str, env: &str, path: &str, name: &str) {
    let res = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": env, "path": path, "name": name}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

async fn put(app: &TestApp, project: &str, env: &str, path: &str, key: &str, value: &str) {
    let res = app
        .post(
            &format!("/api/v3/secrets/raw/{key}"),
            json!({"workspaceId": project, "environment": env, "secretPath": path, "secretValue": value}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

fn get_path(project: &str, path: &str, key: &str, expand: bool) -> String {
    format!(
        "/api/v3/secrets/raw/{key}?workspaceId={project}&environment=dev&secretPath={path}&expandSecretReferences={expand}"
    )
}

async fn read(app: &TestApp, project: &str, path: &str, key: &str) -> String {
    let res = app.get(&get_path(project, path, key, true)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secret"]["secretValue"]
        .as_str()
        .expect("value")
        .to_string()
}

#[tokio::test]
async fn references_expand_within_a_folder_across_environments_and_paths() {
    let app = TestApp::spawn().await;
    let project = app.project("refs").await;
    folder(&app, &project, "prod", "/", "db").await;
    folder(&app, &project, "prod", "/db", "main").await;
    folder(&app, &project, "dev", "/", "app").await;
    put(&app, &project, "dev", "/", "HOST", "localhost").await;
    put(&app, &project, "prod", "/", "REGION", "eu-1").await;
    put(&app, &project, "prod", "/db/main", "PASSWORD", "s3cret").await;
    put(&app, &project, "dev", "/", "PORT", "5432").await;
    put(
        &app,
        &project,
        "dev",
        "/",
        "URL",
        "postgres://u:${prod.db.main.PASSWORD}@${HOST}:${PORT}/${prod.REGION}",
    )
    .await;
    // A nested reference is relative to the secret that holds it.
    put(&app, &project, "prod", "/", "CHAINED", "${REGION}-x").await;
    put(&app, &project, "dev", "/app", "DEEP", "[${prod.CHAINED}]").await;

    assert_eq!(
        read(&app, &project, "/", "URL").await,
        "postgres://u:s3cret@localhost:5432/eu-1"
    );
    assert_eq!(read(&app, &project, "/app", "DEEP").await, "[eu-1-x]");

    // Without the flag (or with it false) the stored value is answered.
    let raw = app.get(&get_path(&project, "/", "URL", false)).await;
    assert_eq!(
        raw.body["secret"]["secretValue"],
        "postgres://u:${prod.db.main.PASSWORD}@${HOST}:${PORT}/${prod.REGION}"
    );
    let plain = app
        .get(&format!(
            "/api/v3/secrets/raw/URL?workspaceId={project}&environment=dev"
        ))
        .await;
    assert!(plain.body["secret"]["secretValue"]
        .as_str()
        .expect("value")
        .contains("${HOST}"));

    // The list expands every secret; v4 too.
    for route in ["/api/v3/secrets/raw", "/api/v4/secrets"] {
        let list = app
            .get(&format!(
                "{route}?workspaceId={project}&projectId={project}&environment=dev&expandSecretReferences=true"
            ))
            .await;
        assert_eq!(list.status, 200, "{}", list.body);
        let url = list.body["secrets"]
            .as_array()
            .expect("secrets")
            .iter()
            .find(|s| s["secretKey"] == "URL")
            .expect("URL listed");
        assert_eq!(
            url["secretValue"], "postgres://u:s3cret@localhost:5432/eu-1",
            "{route}"
        );
    }

    // A hidden value is not expanded (nor shown).
    let hidden = app
        .get(&format!(
            "/api/v3/secrets/raw/URL?workspaceId={project}&environment=dev&expandSecretReferences=true&viewSecretValue=false"
        ))
        .await;
    assert_eq!(hidden.body["secret"]["secretValueHidden"], true);
    assert!(!hidden.body.to_string().contains("s3cret"));
}

#[tokio::test]
async fn missing_cyclic_and_too_deep_references_stay_as_written() {
    let app = TestApp::spawn().await;
    let project = app.project("refs-edge").await;
    put(&app, &project, "dev", "/", "A", "a${B}").await;
    put(&app, &project, "dev", "/", "B", "b${A}").await;
    put(&app, &project, "dev", "/", "SELF", "x${SELF}").await;
    put(
        &app,
        &project,
        "dev",
        "/",
        "MISSING",
        "${NOPE}|${nowhere.X}|${prod.no.such.KEY}|${bad key}|${}",
    )
    .await;
    put(&app, &project, "dev", "/", "EMPTY", "").await;
    put(&app, &project, "dev", "/", "USES_EMPTY", "<${EMPTY}>").await;

    assert_eq!(read(&app, &project, "/", "A").await, "ab${A}");
    assert_eq!(read(&app, &project, "/", "SELF").await, "x${SELF}");
    assert_eq!(
        read(&app, &project, "/", "MISSING").await,
        "${NOPE}|${nowhere.X}|${prod.no.such.KEY}|${bad key}|${}"
    );
    assert_eq!(read(&app, &project, "/", "USES_EMPTY").await, "<>");

    // A chain of 12: L0 -> L1 -> ... -> L11 = "end". Ten levels are followed.
    put(&app, &project, "dev", "/", "L11", "end").await;
    for i in 0..11 {
        put(
            &app,
            &project,
            "dev",
            "/",
            &format!("L{i}"),
            &format!("{i}.${{L{}}}", i + 1),
        )
        .await;
    }
    assert_eq!(
        read(&app, &project, "/", "L1").await,
        "1.2.3.4.5.6.7.8.9.10.end"
    );
    assert_eq!(
        read(&app, &project, "/", "L0").await,
        "0.1.2.3.4.5.6.7.8.9.10.${L11}"
    );
}

/// Fan-out grows exponentially with depth: the expansion's work is bounded, and the answer is
/// a 400 rather than a server that runs out of memory.
#[tokio::test]
async fn an_expansion_that_fans_out_too_far_is_refused() {
    let app = TestApp::spawn().await;
    let project = app.project("refs-fanout").await;
    put(&app, &project, "dev", "/", "F5", &"x".repeat(100)).await;
    for level in (0..5).rev() {
        let value = format!("${{F{}}}", level + 1).repeat(50);
        put(&app, &project, "dev", "/", &format!("F{level}"), &value).await;
    }
    // F4 is 50 × 100 bytes: fine.
    assert_eq!(read(&app, &project, "/", "F4").await.len(), 5_000);
    let res = app.get(&get_path(&project, "/", "F0", true)).await;
    let message = assert_envelope(&res, 400);
    assert!(message.to_string().contains("F0"), "{message}");
    // The list carrying it is refused too; without expansion it reads as stored.
    let list = app
        .get(&format!(
            "/api/v3/secrets/raw?workspaceId={project}&environment=dev&expandSecretReferences=true"
        ))
        .await;
    assert_envelope(&list, 400);
    let raw = app.get(&get_path(&project, "/", "F0", false)).await;
    assert_eq!(raw.status, 200);
}

#[tokio::test]
async fn references_are_read_with_the_readers_permissions() {
    let app = TestApp::spawn().await;
    let project = app.project("refs-perm").await;
    let other = app.project("refs-other").await;
    put(&app, &project, "dev", "/", "BASE", "base-value").await;
    put(&app, &project, "dev", "/", "REF", "${BASE}!").await;
    put(&app, &other, "dev", "/", "BASE", "other-project").await;

    let viewer = app.member_token(&project, "viewer").await;
    let res = app
        .call(
            Method::GET,
            &get_path(&project, "/", "REF", true),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["secret"]["secretValue"], "base-value!");

    let none = app.member_token(&project, "no-access").await;
    let res = app
        .call(
            Method::GET,
            &get_path(&project, "/", "REF", true),
            Some(&none),
            None,
        )
        .await;
    let message = assert_envelope(&res, 403);
    assert!(!message.to_string().contains("base-value"), "{message}");

    // A bad flag value is a 422, not a guess.
    let bad = app
        .get(&format!(
            "/api/v3/secrets/raw/REF?workspaceId={project}&environment=dev&expandSecretReferences=yes"
        ))
        .await;
    assert_envelope(&bad, 422);
}

/// A secret that references a rotation's secret reads the live token after every rotation.
#[tokio::test]
async fn a_reference_to_a_rotated_secret_follows_each_rotation() {
    let rig = Rig::new().await;
    let id = rig.rotation("referenced", "DBT_TOKEN").await;
    put(
        &rig.app,
        &rig.project,
        "dev",
        "/",
        "DBT_HEADER",
        "Token ${DBT_TOKEN}",
    )
    .await;
    folder(&rig.app, &rig.project, "prod", "/", "ci").await;
    put(
        &rig.app,
        &rig.project,
        "prod",
        "/ci",
        "DBT_FROM_PROD",
        "${dev.DBT_TOKEN}",
    )
    .await;
    let from_prod = |project: &str| {
        format!(
            "/api/v3/secrets/raw/DBT_FROM_PROD?workspaceId={project}&environment=prod&secretPath=/ci&expandSecretReferences=true"
        )
    };
    let mut seen = Vec::new();
    for round in 0..3 {
        if round > 0 {
            let rotated = rig.rotate(&id).await;
            assert_eq!(rotated.status, 200, "{}", rotated.body);
        }
        let live = rig.published("DBT_TOKEN").await;
        assert!(rig.is_live(&live), "round {round}: published token is live");
        assert_eq!(
            read(&rig.app, &rig.project, "/", "DBT_HEADER").await,
            format!("Token {live}"),
            "round {round}"
        );
        let res = rig.app.get(&from_prod(&rig.project)).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(
            res.body["secret"]["secretValue"],
            Value::String(live.clone())
        );
        assert!(!seen.contains(&live), "round {round}: a new token");
        seen.push(live);
    }
}
