use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

#[tokio::test]
async fn bootstrap_happens_once_and_its_token_administers() {
    let app = TestApp::spawn().await;
    let again = app
        .call(
            Method::POST,
            "/api/v1/admin/bootstrap",
            None,
            Some(json!({"organization": "other"})),
        )
        .await;
    assert_envelope(&again, 400);
    let projects = app.get("/api/v1/projects").await;
    assert_eq!(projects.status, 200);
    assert_eq!(projects.body["projects"], json!([]));
}

#[tokio::test]
async fn universal_auth_login_renew_and_revoke() {
    let app = TestApp::spawn().await;
    let (_, client_id, secret) = app.identity("ci", "member").await;

    let login = app.login(&client_id, &secret).await;
    assert_eq!(login.status, 200, "{}", login.body);
    for field in ["accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"] {
        assert!(!login.body[field].is_null(), "login answer has {field}");
    }
    assert_eq!(login.body["tokenType"], "Bearer");
    assert_eq!(login.body["expiresIn"], 2_592_000);
    let token = login.body["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The CLI's trailing slash and the legacy client's empty Authorization header.
    let res = app
        .http
        .post(format!("{}/api/v1/auth/universal-auth/login/", app.base))
        .header("authorization", "")
        .json(&json!({"clientId": client_id, "clientSecret": secret}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);

    let wrong = app.login(&client_id, "not-the-secret").await;
    assert_envelope(&wrong, 401);
    let unknown = app
        .login("00000000-0000-0000-0000-000000000000", &secret)
        .await;
    assert_envelope(&unknown, 401);

    let me = app
        .call(Method::GET, "/api/v1/projects", Some(&token), None)
        .await;
    assert_eq!(me.status, 200);

    let renew = app
        .call(
            Method::POST,
            "/api/v1/auth/token/renew",
            None,
            Some(json!({"accessToken": token})),
        )
        .await;
    assert_eq!(renew.status, 200, "{}", renew.body);
    assert_eq!(renew.body["accessToken"], token.as_str());

    let revoke = app
        .call(
            Method::POST,
            "/api/v1/auth/token/revoke",
            None,
            Some(json!({"accessToken": token})),
        )
        .await;
    assert_eq!(revoke.status, 200);
    let after = app
        .call(Method::GET, "/api/v1/projects", Some(&token), None)
        .await;
    assert_envelope(&after, 401);
}

#[tokio::test]
async fn client_secret_use_limit_and_revocation() {
    let app = TestApp::spawn().await;
    let (id, client_id, _) = app.identity("limited", "member").await;
    let cs = app
        .post(
            &format!("/api/v1/auth/universal-auth/identities/{id}/client-secrets"),
            json!({"numUsesLimit": 1}),
        )
        .await;
    let secret = cs.body["clientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret_id = cs.body["clientSecretData"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(app.login(&client_id, &secret).await.status, 200);
    assert_envelope(&app.login(&client_id, &secret).await, 401);

    let (id2, client_id2, secret2) = app.identity("revoked", "member").await;
    let list = app
        .get(&format!(
            "/api/v1/auth/universal-auth/identities/{id2}/client-secrets"
        ))
        .await;
    let sid = list.body["clientSecretData"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        list.body.to_string().find(&secret2).is_none(),
        "client secrets are never listed"
    );
    let revoked = app
        .post(
            &format!("/api/v1/auth/universal-auth/identities/{id2}/client-secrets/{sid}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_envelope(&app.login(&client_id2, &secret2).await, 401);
    assert_ne!(secret_id, sid);
}

#[tokio::test]
async fn missing_or_bad_tokens_are_401() {
    let app = TestApp::spawn().await;
    let none = app.call(Method::GET, "/api/v1/projects", None, None).await;
    assert_envelope(&none, 401);
    let garbage = app
        .call(Method::GET, "/api/v1/projects", Some("garbage"), None)
        .await;
    assert_envelope(&garbage, 401);
    let forged = app
        .call(
            Method::GET,
            "/api/v1/projects",
            Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwianRpIjoieSIsImlhdCI6MSwiYXV0aFRva2VuVHlwZSI6IngifQ.AAAA"),
            None,
        )
        .await;
    assert_envelope(&forged, 401);
}

#[tokio::test]
async fn identities_are_listed_and_deleted_with_their_tokens() {
    let app = TestApp::spawn().await;
    let (id, client_id, secret) = app.identity("gone", "member").await;
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let list = app.get("/api/v1/identities").await;
    assert!(list.body["identities"]
        .as_array()
        .is_some_and(|a| a.iter().any(|i| i["id"] == id.as_str())));
    let get = app.get(&format!("/api/v1/identities/{id}")).await;
    assert_eq!(
        get.body["identity"]["identity"]["authMethods"],
        json!(["universal-auth"])
    );
    let del = app
        .delete(&format!("/api/v1/identities/{id}"), json!({}))
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    assert_envelope(
        &app.call(Method::GET, "/api/v1/projects", Some(&token), None)
            .await,
        401,
    );
    assert_envelope(&app.get(&format!("/api/v1/identities/{id}")).await, 404);
    assert_envelope(&app.get("/api/v1/identities/not-a-uuid").await, 422);
}

#[tokio::test]
async fn trusted_ips_are_addresses_or_ranges() {
    let app = TestApp::spawn().await;
    let res = app
        .post(
            "/api/v1/identities",
            json!({"name": "ci", "organizationId": app.org_id, "role": "member"}),
        )
        .await;
    let id = res.body["identity"]["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/auth/universal-auth/identities/{id}");
    for bad in [
        json!([null]),
        json!(1.5),
        json!([{"ipAddress": "10.0.0.0/33"}]),
        json!([{"ipAddress": "nope"}]),
    ] {
        let res = app.post(&path, json!({"accessTokenTrustedIps": bad})).await;
        assert_envelope(&res, 422);
    }
    let res = app.get(&path).await;
    assert_envelope(&res, 404);
    let ips = json!([{"ipAddress": "10.0.0.0/8"}, {"ipAddress": "::1"}]);
    let res = app.post(&path, json!({"accessTokenTrustedIps": ips})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["identityUniversalAuth"]["accessTokenTrustedIps"],
        ips
    );
    let defaults = app.get(&path).await;
    assert_eq!(
        defaults.body["identityUniversalAuth"]["accessTokenTrustedIps"],
        ips
    );
}
