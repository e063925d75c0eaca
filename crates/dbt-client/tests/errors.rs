//! Errors carry dbt's message and never token text.

mod common;

use common::{client_with, fast_options, setup};
use dbt_client::{DbtClient, DbtError, PermissionGrant};
use dbt_cloud_emulator::{Fault, Grant, Operation};

/// Asserts no secret appears in the error's Display or Debug.
fn assert_clean(err: &DbtError, secrets: &[&str]) {
    let shown = format!("{err} / {err:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{shown} leaks a secret");
    }
    assert!(!shown.contains("dbtc_"), "{shown}");
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized_with_dbts_message() {
    let (emu, _) = setup().await;
    let secret = "dbtc_NotARealTokenValue0123456789";
    let client = client_with(&emu, secret, fast_options()).await;
    let err = client.get_account().await.expect_err("401");
    assert_eq!(
        err,
        DbtError::Unauthorized {
            message: Some("Invalid token.".into())
        }
    );
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.dbt_message(), Some("Invalid token."));
    assert_eq!(
        err.to_string(),
        "dbt Cloud rejected the API token: Invalid token."
    );
    assert_clean(&err, &[secret]);
    let debug = format!("{client:?}");
    assert!(!debug.contains(secret), "{debug}");
}

#[tokio::test]
async fn missing_permissions_and_wrong_accounts_are_forbidden() {
    let (emu, _) = setup().await;
    let viewer = emu.create_token("viewer", vec![Grant::account("account_viewer")]);
    let client = client_with(&emu, &viewer.token_string, fast_options()).await;
    let grants = [PermissionGrant {
        permission_set: "readonly".into(),
        project_id: None,
    }];
    let err = client
        .create_service_token("x", &grants)
        .await
        .expect_err("403");
    assert_eq!(
        err.dbt_message(),
        Some("Forbidden: You do not have permission to access this resource.")
    );
    assert_clean(&err, &[&viewer.token_string]);

    let elsewhere = DbtClient::connect(&emu.base_url(), "999", &emu.admin_token(), fast_options())
        .await
        .expect("connects");
    let err = elsewhere.get_account().await.expect_err("403");
    assert!(matches!(err, DbtError::Forbidden { .. }));
    assert_eq!(err.dbt_message(), Some("Forbidden: Access denied"));
    assert_clean(&err, &[&emu.admin_token()]);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (_emu, client) = setup().await;
    let grants = [PermissionGrant {
        permission_set: "superuser".into(),
        project_id: None,
    }];
    let err = client
        .create_service_token("x", &grants)
        .await
        .expect_err("400");
    let message = err.dbt_message().expect("message");
    assert!(message.starts_with("The request was invalid."), "{message}");
    assert!(
        message.contains("permission_grants: \"superuser\" is not a valid choice"),
        "{message}"
    );
}

#[tokio::test]
async fn an_html_gateway_error_is_reported_by_status_only() {
    let (emu, client) = setup().await;
    emu.inject(Fault::html(Operation::AccountGet, 502).times(10));
    let err = client.get_account().await.expect_err("502");
    assert_eq!(
        err,
        DbtError::Server {
            status: 502,
            message: None
        }
    );
    assert_eq!(err.to_string(), "dbt Cloud server error: HTTP 502");

    emu.clear_faults();
    emu.inject(Fault::html(Operation::TokenCreate, 504));
    let err = client
        .create_service_token("x", &[])
        .await
        .expect_err("504");
    assert_eq!(err.to_string(), "dbt Cloud server error: HTTP 504");
    assert!(err.is_ambiguous());
}

#[tokio::test]
async fn a_created_token_never_shows_up_in_debug_output() {
    let (emu, client) = setup().await;
    let created = client
        .create_service_token("secretive", &[])
        .await
        .expect("created");
    let debug = format!("{created:?}");
    assert!(!debug.contains(&created.token_string), "{debug}");
    assert!(emu
        .live_tokens()
        .iter()
        .any(|t| t.token_string == created.token_string));
}
