//! Universal auth in upstream's shapes: attach once, PATCH, DELETE (revoking what it issued),
//! and one client secret by id.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};
use crate::identities_upstream::assert_names;

fn ua_path(id: &str) -> String {
    format!("/api/v1/auth/universal-auth/identities/{id}")
}

#[tokio::test]
async fn attaching_twice_is_a_400_and_patch_changes_only_what_it_names() {
    let app = TestApp::spawn().await;
    let (id, client_id, _) = app.identity("ua", "member").await;
    let path = ua_path(&id);

    let again = app.post(&path, json!({"accessTokenTTL": 60})).await;
    assert_envelope(&again, 400);
    let got = app.get(&path).await;
    let ua = &got.body["identityUniversalAuth"];
    assert_eq!(
        ua["accessTokenTTL"], 2_592_000,
        "the second attach changed nothing"
    );
    assert_eq!(ua["id"], id.as_str());
    assert_eq!(ua["identityId"], id.as_str());
    assert_eq!(ua["clientId"], client_id.as_str());
    assert_eq!(ua["accessTokenPeriod"], 0);
    assert_eq!(ua["lockoutEnabled"], false);
    assert!(ua["clientSecretTrustedIps"].is_array() && ua["accessTokenTrustedIps"].is_array());

    let res = app
        .patch(
            &path,
            json!({"accessTokenTTL": 600, "accessTokenNumUsesLimit": 5}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let ua = &res.body["identityUniversalAuth"];
    assert_eq!(ua["accessTokenTTL"], 600);
    assert_eq!(ua["accessTokenMaxTTL"], 2_592_000, "kept");
    assert_eq!(ua["accessTokenNumUsesLimit"], 5);
    assert_eq!(
        ua["clientId"],
        client_id.as_str(),
        "the client id never changes"
    );

    // Bad input: a clear 4xx, nothing changed.
    for (body, status) in [
        (
            json!({"accessTokenTTL": 7200, "accessTokenMaxTTL": 3600}),
            400,
        ),
        (json!({"accessTokenTTL": -1}), 422),
        (
            json!({"accessTokenTrustedIps": [{"ipAddress": "nope"}]}),
            422,
        ),
        (json!({"lockoutEnabled": true}), 422),
        (json!({"bogus": 1}), 422),
    ] {
        assert_envelope(&app.patch(&path, body).await, status);
    }
    assert_names(
        &app.patch(&path, json!({"bogus": 1})).await,
        json!(["bogus"]),
    );
    let got = app.get(&path).await;
    assert_eq!(got.body["identityUniversalAuth"]["accessTokenTTL"], 600);
    assert_eq!(
        got.body["identityUniversalAuth"]["accessTokenMaxTTL"],
        2_592_000
    );

    // An identity without universal auth: PATCH and DELETE are 404s.
    let bare = app
        .post(
            "/api/v1/identities",
            json!({"name": "bare", "organizationId": app.org_id}),
        )
        .await;
    let bare = bare.body["identity"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_envelope(&app.patch(&ua_path(&bare), json!({})).await, 404);
    assert_envelope(&app.delete(&ua_path(&bare), json!({})).await, 404);
    assert_envelope(&app.patch(&ua_path("not-a-uuid"), json!({})).await, 422);
}

#[tokio::test]
async fn narrowing_trusted_ips_with_patch_refuses_the_next_request() {
    let app = TestApp::spawn().await;
    let project = app.project("narrow").await;
    let (id, client_id, secret) = app.identity("narrow", "no-access").await;
    let res = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "viewer"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let read = format!("/api/v1/projects/{project}");
    let res = app.call(Method::GET, &read, Some(&token), None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .patch(
            &ua_path(&id),
            json!({"accessTokenTrustedIps": [{"ipAddress": "10.0.0.0/8"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app.call(Method::GET, &read, Some(&token), None).await;
    assert_envelope(&res, 403);
}

#[tokio::test]
async fn deleting_universal_auth_refuses_its_tokens_and_secrets_at_once() {
    let app = TestApp::spawn().await;
    let project = app.project("detach").await;
    let (id, client_id, secret) = app.identity("detach", "member").await;
    let res = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "viewer"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let read = format!("/api/v1/projects/{project}");
    // Read twice so the token's context is cached.
    for _ in 0..2 {
        let res = app.call(Method::GET, &read, Some(&token), None).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    let res = app.delete(&ua_path(&id), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["identityUniversalAuth"]["clientId"],
        client_id.as_str()
    );

    let res = app.call(Method::GET, &read, Some(&token), None).await;
    assert_envelope(&res, 401);
    assert_envelope(&app.login(&client_id, &secret).await, 401);
    assert_envelope(&app.get(&ua_path(&id)).await, 404);
    let listed = app.get(&format!("{}/client-secrets", ua_path(&id))).await;
    assert_eq!(
        listed.body["clientSecretData"],
        json!([]),
        "{}",
        listed.body
    );
    let identity = app.get(&format!("/api/v1/identities/{id}")).await;
    assert_eq!(
        identity.body["identity"]["identity"]["authMethods"],
        json!([])
    );

    // Attached again: a new client id; the old secret stays revoked.
    let res = app.post(&ua_path(&id), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let new_client = res.body["identityUniversalAuth"]["clientId"]
        .as_str()
        .expect("clientId")
        .to_string();
    assert_ne!(new_client, client_id);
    assert_envelope(&app.login(&new_client, &secret).await, 401);
    let res = app.call(Method::GET, &read, Some(&token), None).await;
    assert_envelope(&res, 401);
}

#[tokio::test]
async fn one_client_secret_is_read_by_id() {
    let app = TestApp::spawn().await;
    let (id, _, _) = app.identity("secrets", "member").await;
    let secrets = format!("{}/client-secrets", ua_path(&id));
    let made = app.post(&secrets, json!({"description": "ci"})).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let secret_id = made.body["clientSecretData"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let got = app.get(&format!("{secrets}/{secret_id}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    let data = &got.body["clientSecretData"];
    assert_eq!(data["id"], secret_id.as_str());
    assert_eq!(data["description"], "ci");
    assert_eq!(data["identityUAId"], id.as_str());
    assert_eq!(data["isClientSecretRevoked"], false);
    assert!(data.get("clientSecret").is_none(), "never the value");

    let res = app
        .post(&format!("{secrets}/{secret_id}/revoke"), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let got = app.get(&format!("{secrets}/{secret_id}")).await;
    assert_eq!(got.body["clientSecretData"]["isClientSecretRevoked"], true);

    let missing = uuid::Uuid::new_v4();
    assert_envelope(&app.get(&format!("{secrets}/{missing}")).await, 404);
    assert_envelope(&app.get(&format!("{secrets}/nope")).await, 422);
    let (other, _, _) = app.identity("other", "member").await;
    let cross = format!("{}/client-secrets/{secret_id}", ua_path(&other));
    assert_envelope(&app.get(&cross).await, 404);
}

#[tokio::test]
async fn only_org_admins_change_or_remove_universal_auth() {
    let app = TestApp::spawn().await;
    let (target, _, _) = app.identity("target", "member").await;
    let (_, client_id, secret) = app.identity("org-member", "member").await;
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let path = ua_path(&target);
    let res = app
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"accessTokenTTL": 1})),
        )
        .await;
    assert_envelope(&res, 403);
    let res = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_envelope(&res, 403);
    let res = app.get(&path).await;
    assert_eq!(res.status, 200, "still attached: {}", res.body);
    assert_eq!(
        res.body["identityUniversalAuth"]["accessTokenTTL"],
        2_592_000
    );
    let secrets = app.get(&format!("{path}/client-secrets")).await;
    let secret_id = secrets.body["clientSecretData"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let res = app
        .call(
            Method::GET,
            &format!("{path}/client-secrets/{secret_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "members read: {}", res.body);
}
