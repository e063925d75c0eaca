//! Security hardening (docs/SECURITY.md): see the tests below.
//!
//! - Past versions of a secret a rotation manages are the rotation's earlier tokens: only who
//!   may read a rotation's generated credentials may read them.
//! - The identity, universal-auth and membership bodies refuse unknown keys (422 naming them),
//!   and settings rotad does not enforce are refused when set (422 naming the field) instead of
//!   being stored and ignored; access-token trusted IPs are enforced.
//! - Every free-text field has a length cap (422 naming the field), and names and paths longer
//!   than PostgreSQL's btree indexes hold are a 422 on both backends, never a 500.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, Answer, TestApp};
use crate::rotation_support::{Rig, ROTATIONS};

/// A 422 in the upstream envelope with an issue whose path starts with `path`.
fn assert_names(res: &Answer, path: Value) {
    let issues = assert_envelope(res, 422);
    let path = path.as_array().cloned().unwrap_or_default();
    let named = issues.as_array().is_some_and(|issues| {
        issues.iter().any(|issue| {
            issue["path"]
                .as_array()
                .is_some_and(|p| p.len() >= path.len() && p[..path.len()] == path[..])
        })
    });
    assert!(named, "an issue names {path:?}: {issues}");
}

/// Rotate twice: version 1 of the mapped secret is the first token (live until the second
/// rotation, then revoked, but a token all the same). Viewers and members read the current
/// value as before and get 403 for version 1; project admins get it.
#[tokio::test]
async fn old_versions_of_a_rotated_secret_need_the_generated_credentials_permission() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let id = rig.rotation("versions", "DBT_VERSIONED").await;
    let first = rig.published("DBT_VERSIONED").await;
    for _ in 0..2 {
        let res = rig.rotate(&id).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    let current = rig.published("DBT_VERSIONED").await;
    assert_ne!(first, current);
    let base = format!(
        "/api/v3/secrets/raw/DBT_VERSIONED?workspaceId={}&environment=dev",
        rig.project
    );
    let v4 = format!(
        "/api/v4/secrets/DBT_VERSIONED?projectId={}&environment=dev",
        rig.project
    );

    for role in ["viewer", "member"] {
        let token = app.member_token(&rig.project, role).await;
        for path in [format!("{base}&version=1"), format!("{v4}&version=1")] {
            let res = app.call(Method::GET, &path, Some(&token), None).await;
            let message = assert_envelope(&res, 403);
            assert!(
                message
                    .as_str()
                    .is_some_and(|m| m.contains("read-generated-credentials")),
                "{role}: {message}"
            );
            assert!(
                !res.body.to_string().contains(&first),
                "{role}: the old token leaks"
            );
        }
        // Versions that do not exist are no different: no hint of how many there are.
        let res = app
            .call(
                Method::GET,
                &format!("{base}&version=99"),
                Some(&token),
                None,
            )
            .await;
        assert_envelope(&res, 403);
        // The current value, with or without its version number, stays readable.
        for path in [base.clone(), format!("{base}&version=3")] {
            let res = app.call(Method::GET, &path, Some(&token), None).await;
            assert_eq!(res.status, 200, "{role}: {}", res.body);
            assert_eq!(res.body["secret"]["secretValue"], current.as_str());
            assert_eq!(res.body["secret"]["version"], 3);
        }
    }

    // Project admins (a membership, or an organization admin) read every version.
    let admin = app.member_token(&rig.project, "admin").await;
    for token in [admin.as_str(), app.token.as_str()] {
        let res = app
            .call(Method::GET, &format!("{base}&version=1"), Some(token), None)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["secret"]["secretValue"], first.as_str());
        assert_eq!(res.body["secret"]["version"], 1);
    }
}

/// Secrets no rotation manages keep their history readable to whoever may read them.
#[tokio::test]
async fn old_versions_of_a_plain_secret_stay_readable_to_viewers() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let res = app.create_secret(&rig.project, "/", "PLAIN", "one").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .patch(
            "/api/v3/secrets/raw/PLAIN",
            json!({"workspaceId": rig.project, "environment": "dev", "secretValue": "two"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let viewer = app.member_token(&rig.project, "viewer").await;
    let path = format!(
        "/api/v3/secrets/raw/PLAIN?workspaceId={}&environment=dev&version=1",
        rig.project
    );
    let res = app.call(Method::GET, &path, Some(&viewer), None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["secret"]["secretValue"], "one");
}

/// An identity without universal auth; returns its id.
async fn bare_identity(app: &TestApp, name: &str) -> String {
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": name, "organizationId": app.org_id, "role": "no-access"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["identity"]["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn unknown_keys_in_identity_and_membership_bodies_get_422_and_change_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("keys").await;

    // POST /api/v1/identities
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": "sneaky", "organizationId": app.org_id, "role": "no-access", "bogus": 1}),
        )
        .await;
    assert_names(&res, json!(["bogus"]));
    let list = app.get("/api/v1/identities").await;
    assert!(
        !list.body.to_string().contains("sneaky"),
        "no identity was created: {}",
        list.body
    );

    // POST /api/v1/auth/universal-auth/identities/{id}: nothing attached, nothing changed.
    let id = bare_identity(&app, "keys").await;
    let ua = format!("/api/v1/auth/universal-auth/identities/{id}");
    assert_names(&app.post(&ua, json!({"bogus": 1})).await, json!(["bogus"]));
    assert_envelope(&app.get(&ua).await, 404);
    let res = app.post(&ua, json!({"accessTokenTTL": 100})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .post(&ua, json!({"accessTokenTTL": 200, "bogus": 1}))
        .await;
    assert_names(&res, json!(["bogus"]));
    let res = app
        .post(
            &ua,
            json!({"accessTokenTTL": 300, "accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8", "bogus": 1}]}),
        )
        .await;
    assert_names(&res, json!(["accessTokenTrustedIps", 0, "bogus"]));
    let res = app.get(&ua).await;
    assert_eq!(res.body["identityUniversalAuth"]["accessTokenTTL"], 100);

    // POST .../client-secrets: no secret made.
    let secrets = format!("{ua}/client-secrets");
    let res = app
        .post(&secrets, json!({"description": "ci", "bogus": 1}))
        .await;
    assert_names(&res, json!(["bogus"]));
    let res = app.get(&secrets).await;
    assert_eq!(res.body["clientSecretData"], json!([]), "{}", res.body);

    // POST /api/v1/projects/{projectId}/memberships/identities/{identityId}, and its roles.
    let membership = format!("/api/v1/projects/{project}/memberships/identities/{id}");
    let res = app
        .post(
            &membership,
            json!({"roles": [{"role": "viewer", "isTemporary": false}], "bogus": 1}),
        )
        .await;
    assert_names(&res, json!(["bogus"]));
    let res = app
        .post(
            &membership,
            json!({"roles": [{"role": "viewer", "isTemporary": false, "bogus": 1}]}),
        )
        .await;
    assert_names(&res, json!(["roles", 0, "bogus"]));
    assert_envelope(&app.get(&membership).await, 404);
    let res = app.post(&membership, json!({"role": "viewer"})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .post(
            &membership,
            json!({"roles": [{"role": "admin", "bogus": 1}]}),
        )
        .await;
    assert_names(&res, json!(["roles", 0, "bogus"]));

    // Unknown role slugs.
    let res = app
        .post(&membership, json!({"roles": [{"role": "owner"}]}))
        .await;
    assert_names(&res, json!(["roles", 0, "role"]));
    assert_names(
        &app.post(&membership, json!({"role": "owner"})).await,
        json!(["role"]),
    );
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": "owner", "organizationId": app.org_id, "role": "owner"}),
        )
        .await;
    assert_names(&res, json!(["role"]));

    let res = app.get(&membership).await;
    assert_eq!(
        res.body["identityMembership"]["roles"][0]["role"], "viewer",
        "{}",
        res.body
    );
}

#[tokio::test]
async fn settings_rotad_does_not_enforce_get_422_naming_them() {
    let app = TestApp::spawn().await;
    let project = app.project("settings").await;
    let id = bare_identity(&app, "settings").await;
    let ua = format!("/api/v1/auth/universal-auth/identities/{id}");
    for (field, value) in [
        ("accessTokenPeriod", json!(3600)),
        ("lockoutEnabled", json!(true)),
        ("lockoutThreshold", json!(5)),
        ("lockoutDurationSeconds", json!(600)),
        ("lockoutCounterResetSeconds", json!(60)),
        ("clientSecretTrustedIps", json!([])),
        ("accessTokenTrustedIps", json!([])),
    ] {
        let res = app.post(&ua, json!({ field: value })).await;
        assert_names(&res, json!([field]));
        assert_envelope(&app.get(&ua).await, 404);
    }

    // Every field upstream documents, at the values rotad enforces, is accepted.
    let all_open = json!([{"ipAddress": "0.0.0.0/0"}, {"ipAddress": "::/0"}]);
    let res = app
        .post(
            &ua,
            json!({
                "clientSecretTrustedIps": all_open,
                "accessTokenTrustedIps": all_open,
                "accessTokenTTL": 2_592_000,
                "accessTokenMaxTTL": 2_592_000,
                "accessTokenNumUsesLimit": 0,
                "accessTokenPeriod": 0,
                "lockoutEnabled": false,
                "lockoutThreshold": 3,
                "lockoutDurationSeconds": 300,
                "lockoutCounterResetSeconds": 30,
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let client_id = res.body["identityUniversalAuth"]["clientId"]
        .as_str()
        .expect("clientId")
        .to_string();
    let res = app
        .post(
            &format!("{ua}/client-secrets"),
            json!({"description": "ci", "numUsesLimit": 0, "ttl": 0}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let secret = res.body["clientSecret"]
        .as_str()
        .expect("secret")
        .to_string();
    let login = app.login(&client_id, &secret).await;
    assert_eq!(login.status, 200, "{}", login.body);

    // Malformed temporary roles, and role and roles together, are refused.
    let membership = format!("/api/v1/projects/{project}/memberships/identities/{id}");
    for (body, path) in [
        (
            json!({"roles": [{"role": "viewer", "isTemporary": true, "temporaryMode": "absolute",
                "temporaryRange": "1h", "temporaryAccessStartTime": "2030-01-01T00:00:00.000Z"}]}),
            json!(["roles", 0, "temporaryMode"]),
        ),
        (
            json!({"roles": [{"role": "viewer", "isTemporary": true, "temporaryMode": "relative",
                "temporaryRange": "soon", "temporaryAccessStartTime": "2030-01-01T00:00:00.000Z"}]}),
            json!(["roles", 0, "temporaryRange"]),
        ),
        (
            json!({"roles": [{"role": "viewer", "isTemporary": false, "temporaryRange": "1h"}]}),
            json!(["roles", 0, "temporaryRange"]),
        ),
        (
            json!({"role": "admin", "roles": [{"role": "viewer"}]}),
            json!(["role"]),
        ),
    ] {
        let res = app.post(&membership, body.clone()).await;
        assert_names(&res, path);
        assert_envelope(&app.get(&membership).await, 404);
    }
    // Identity metadata is not stored by rotad.
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": "meta", "organizationId": app.org_id, "role": "no-access",
                "metadata": [{"key": "team", "value": "data"}]}),
        )
        .await;
    assert_names(&res, json!(["metadata"]));

    // The shapes real clients send (tests/clients/run.py, the README) still work.
    let res = app
        .post(
            &membership,
            json!({"roles": [{"role": "viewer", "isTemporary": false}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": "meta", "organizationId": app.org_id, "role": "no-access", "metadata": []}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// `accessTokenTrustedIps` is enforced on every request made with a universal-auth token (the
/// settings as they are now, not as they were at login).
#[tokio::test]
async fn access_token_trusted_ips_are_enforced() {
    let app = TestApp::spawn().await;
    let project = app.project("ips").await;
    let (id, client_id, secret) = app.identity("ips", "no-access").await;
    let res = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "viewer", "isTemporary": false}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    // The identity has universal auth already: its settings change with PATCH.
    let ua = format!("/api/v1/auth/universal-auth/identities/{id}");
    let res = app
        .patch(
            &ua,
            json!({"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    let login = app.login(&client_id, &secret).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let read = format!("/api/v1/projects/{project}");
    let res = app.call(Method::GET, &read, Some(&token), None).await;
    let message = assert_envelope(&res, 403);
    assert!(
        message.as_str().is_some_and(|m| m.contains("IP address")),
        "{message}"
    );

    let res = app
        .patch(
            &ua,
            json!({"accessTokenTrustedIps": [{"ipAddress": "127.0.0.0/8"}, {"ipAddress": "::1/128"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app.call(Method::GET, &read, Some(&token), None).await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// `n` random lowercase hex characters: valid in names and slugs, and incompressible enough
/// that PostgreSQL cannot squeeze a long one into an index entry.
fn text(n: usize) -> String {
    let mut out = String::with_capacity(n + 32);
    while out.len() < n {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(n);
    out
}

/// Each cap: one past it is a 422 naming the field; at it, accepted.
#[tokio::test]
async fn free_text_fields_have_length_caps() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let project = &rig.project;

    // Projects, on both creation routes.
    for route in ["/api/v2/workspace", "/api/v1/projects"] {
        for (body, path) in [
            (json!({"projectName": text(65)}), json!(["projectName"])),
            (
                json!({"projectName": "p", "slug": text(37)}),
                json!(["slug"]),
            ),
            (
                json!({"projectName": "p", "slug": text(4)}),
                json!(["slug"]),
            ),
            (
                json!({"projectName": "p", "projectDescription": text(1025)}),
                json!(["projectDescription"]),
            ),
        ] {
            assert_names(&app.post(route, body).await, path);
        }
    }
    let res = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": text(64), "slug": text(36), "projectDescription": "é".repeat(1024)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    // Identity name and client-secret description.
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": text(65), "organizationId": app.org_id, "role": "no-access"}),
        )
        .await;
    assert_names(&res, json!(["name"]));
    let id = bare_identity(app, &text(64)).await;
    let ua = format!("/api/v1/auth/universal-auth/identities/{id}");
    assert_eq!(app.post(&ua, json!({})).await.status, 200);
    let secrets = format!("{ua}/client-secrets");
    let res = app.post(&secrets, json!({"description": text(257)})).await;
    assert_names(&res, json!(["description"]));
    let res = app.post(&secrets, json!({"description": text(256)})).await;
    assert_eq!(res.status, 200, "{}", res.body);

    // Secret comment, on create and update.
    let write = |comment: String| json!({"workspaceId": project, "environment": "dev", "secretValue": "v", "secretComment": comment});
    let res = app
        .post("/api/v3/secrets/raw/COMMENTED", write(text(10_001)))
        .await;
    assert_names(&res, json!(["secretComment"]));
    let res = app
        .post("/api/v3/secrets/raw/COMMENTED", write(text(10_000)))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .patch("/api/v3/secrets/raw/COMMENTED", write(text(10_001)))
        .await;
    assert_names(&res, json!(["secretComment"]));

    // Folder name.
    let folder = |name: String| json!({"projectId": project, "environment": "dev", "name": name, "path": "/"});
    assert_names(
        &app.post("/api/v2/folders", folder(text(65))).await,
        json!(["name"]),
    );
    assert_eq!(
        app.post("/api/v2/folders", folder(text(64))).await.status,
        200
    );

    // Connection name, description and instance URL.
    let connection = |name: &str, description: &str, url: String| {
        json!({"name": name, "description": description, "method": "api-token",
            "credentials": {"instanceUrl": url, "accountId": rig.emu.account_id().to_string(),
                "apiToken": rig.emu.admin_token()}})
    };
    let base_url = rig.emu.base_url().to_string();
    let long_url = format!("{base_url}/{}", text(2049 - base_url.len() - 1));
    assert_eq!(long_url.len(), 2049);
    for (body, path) in [
        (connection(&text(33), "", base_url.clone()), json!(["name"])),
        (
            connection("c", &text(257), base_url.clone()),
            json!(["description"]),
        ),
        (
            connection("c", "", long_url.clone()),
            json!(["credentials", "instanceUrl"]),
        ),
    ] {
        assert_names(&app.post("/api/v1/app-connections/dbt", body).await, path);
    }

    // Rotation description, number of permission grants, mapped secret name; create and PATCH.
    let id = rig.rotation("caps", "CAPS_TOKEN").await;
    let grants: Vec<Value> = (0..51)
        .map(|i| json!({"permissionSet": "job_runner", "projectId": i}))
        .collect();
    let mut cases = Vec::new();
    let mut body = rig.body("caps-two", "CAPS_TWO");
    body["description"] = json!(text(257));
    cases.push((
        body,
        json!({"description": text(257)}),
        json!(["description"]),
    ));
    let mut body = rig.body("caps-two", "CAPS_TWO");
    body["parameters"]["permissionGrants"] = json!(grants);
    cases.push((
        body,
        json!({"parameters": {"tokenName": "t", "permissionGrants": grants}}),
        json!(["parameters", "permissionGrants"]),
    ));
    let mut body = rig.body("caps-two", &text(501));
    body["secretsMapping"]["serviceToken"] = json!(text(501));
    cases.push((
        body,
        json!({"secretsMapping": {"serviceToken": text(501)}}),
        json!(["secretsMapping", "serviceToken"]),
    ));
    for (create, patch, path) in cases {
        assert_names(&app.post(ROTATIONS, create).await, path.clone());
        assert_names(&app.patch(&format!("{ROTATIONS}/{id}"), patch).await, path);
    }
    let res = app
        .patch(
            &format!("{ROTATIONS}/{id}"),
            json!({"description": text(256), "parameters": {"tokenName": "t", "permissionGrants": &grants[..50]}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

/// 10,000-character names, and folder paths nested past what a btree index entry holds: a 422
/// naming the field on both backends, never a 500 (and no dbt token minted for nothing).
#[tokio::test]
async fn names_and_paths_too_long_for_an_index_get_422_never_500() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let project = &rig.project;
    let long = text(10_000);

    let res = app.create_secret(project, "/", &long, "v").await;
    assert_names(&res, json!(["secretName"]));
    let res = app.create_secret(project, "/", "SHORT", "v").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .patch(
            "/api/v3/secrets/raw/SHORT",
            json!({"workspaceId": project, "environment": "dev", "newSecretName": long}),
        )
        .await;
    assert_names(&res, json!(["newSecretName"]));
    let res = app
        .get(&format!(
            "/api/v3/secrets/raw/{long}?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_envelope(&res, 404);

    let res = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": long, "path": "/"}),
        )
        .await;
    assert_names(&res, json!(["name"]));

    let res = app
        .post(
            "/api/v2/workspace",
            json!({"projectName": "p", "slug": long}),
        )
        .await;
    assert_names(&res, json!(["slug"]));

    let before = rig.emu.tokens().len();
    let res = rig.create(&long, "LONG_NAME").await;
    assert_names(&res, json!(["name"]));
    let res = rig.create("long-secret", &long).await;
    assert_names(&res, json!(["secretsMapping", "serviceToken"]));
    assert_eq!(rig.emu.tokens().len(), before, "no token minted");

    let res = app
        .post(
            "/api/v1/app-connections/dbt",
            json!({"name": long, "method": "api-token", "credentials": {
                "instanceUrl": rig.emu.base_url(), "accountId": rig.emu.account_id().to_string(),
                "apiToken": rig.emu.admin_token()}}),
        )
        .await;
    assert_names(&res, json!(["name"]));

    // Folders of 64-character names, nested 60 deep: 3,900 characters of path, past the
    // ~2,700 bytes a PostgreSQL btree entry holds. The cap refuses the level that passes it.
    let mut path = String::from("/");
    let mut refused = false;
    for _ in 0..60 {
        let name = text(64);
        let res = app
            .post(
                "/api/v2/folders",
                json!({"projectId": project, "environment": "dev", "name": name, "path": path}),
            )
            .await;
        if res.status == 200 {
            path = res.body["folder"]["path"]
                .as_str()
                .expect("path")
                .to_string();
        } else {
            assert_names(&res, json!(["path"]));
            refused = true;
            break;
        }
    }
    assert!(
        path.len() <= 1024,
        "a folder path of {} characters",
        path.len()
    );
    assert!(
        refused,
        "nesting stops at the path cap (reached {} characters)",
        path.len()
    );
}
