//! Authentication and authorisation rules of the emulated API.

mod common;

use common::{create, emulator, request, send, token_path, tokens_path};
use dbt_cloud_emulator::Grant;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn token_and_bearer_schemes_both_authenticate_in_any_case() {
    let emu = emulator().await;
    let path = format!("{}/api/v2/accounts/{}/", emu.base_url(), emu.account_id());
    for scheme in ["Token", "Bearer", "token", "BEARER"] {
        let response = common::client()
            .get(&path)
            .header("Authorization", format!("{scheme} {}", emu.admin_token()))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "scheme {scheme}");
    }
}

#[tokio::test]
async fn missing_unknown_or_malformed_tokens_get_dbts_401() {
    let emu = emulator().await;
    let path = format!("{}{}", emu.base_url(), tokens_path(&emu));
    let expected = json!({
        "status": {"code": 401, "is_success": false, "user_message": "Invalid token.", "developer_message": null},
        "data": null
    });
    let no_header = common::client().get(&path);
    let unknown = common::client()
        .get(&path)
        .header("Authorization", "Bearer dbtc_nope");
    let basic = common::client()
        .get(&path)
        .header("Authorization", format!("Basic {}", emu.admin_token()));
    for builder in [no_header, unknown, basic] {
        let (status, body) = send(builder).await;
        assert_eq!(status, 401);
        assert_eq!(body, expected);
    }
}

#[tokio::test]
async fn a_deleted_token_no_longer_authenticates() {
    let emu = emulator().await;
    let created = create(
        &emu,
        "short-lived",
        json!([{"permission_set": "account_admin"}]),
    )
    .await;
    let secret = created["token_string"].as_str().expect("secret").to_owned();
    let id = created["id"].as_i64().expect("id");
    let (status, _) = send(request(&emu, Method::GET, &tokens_path(&emu), &secret)).await;
    assert_eq!(status, 200, "a created token authenticates");

    let (status, _) = send(request(
        &emu,
        Method::DELETE,
        &token_path(&emu, id),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 204);
    let (status, body) = send(request(&emu, Method::GET, &tokens_path(&emu), &secret)).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"]["user_message"], "Invalid token.");
}

#[tokio::test]
async fn a_token_used_on_another_account_is_forbidden() {
    let emu = emulator().await;
    let (status, body) = send(request(
        &emu,
        Method::GET,
        "/api/v3/accounts/999/service-tokens/",
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["status"]["user_message"], "Forbidden: Access denied");
    assert_eq!(body["data"]["account_access_denied"], true);
}

#[tokio::test]
async fn only_admins_and_owners_write_while_viewers_may_read() {
    let emu = emulator().await;
    let viewer = emu.create_token("viewer", vec![Grant::account("account_viewer")]);
    let security = emu.create_token("security", vec![Grant::account("security_admin")]);
    let owner = emu.create_token("owner", vec![Grant::account("owner")]);
    let job_admin = emu.create_token("jobs", vec![Grant::project("job_admin", 101)]);
    let body = json!({"name": "x", "permission_grants": [{"permission_set": "readonly"}]});

    for reader in [&viewer, &security] {
        let (status, _) = send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &reader.token_string,
        ))
        .await;
        assert_eq!(status, 200, "{} may list", reader.name);
        let (status, body) =
            send(request(&emu, Method::POST, &tokens_path(&emu), &reader.token_string).json(&body))
                .await;
        assert_eq!(status, 403, "{} may not create", reader.name);
        assert!(body["status"]["user_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Forbidden")));
        let (status, _) = send(request(
            &emu,
            Method::DELETE,
            &token_path(&emu, owner.id),
            &reader.token_string,
        ))
        .await;
        assert_eq!(status, 403, "{} may not delete", reader.name);
    }

    // A project-level token reads the account and projects but not service tokens.
    let account = format!("/api/v2/accounts/{}/", emu.account_id());
    let projects = format!("/api/v3/accounts/{}/projects/", emu.account_id());
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &account,
            &job_admin.token_string
        ))
        .await
        .0,
        200
    );
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &projects,
            &job_admin.token_string
        ))
        .await
        .0,
        200
    );
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &job_admin.token_string
        ))
        .await
        .0,
        403
    );

    // An owner may create and delete.
    let (status, created) =
        send(request(&emu, Method::POST, &tokens_path(&emu), &owner.token_string).json(&body))
            .await;
    assert_eq!(status, 200);
    let id = created["data"]["id"].as_i64().expect("id");
    let (status, _) = send(request(
        &emu,
        Method::DELETE,
        &token_path(&emu, id),
        &owner.token_string,
    ))
    .await;
    assert_eq!(status, 204);
}
