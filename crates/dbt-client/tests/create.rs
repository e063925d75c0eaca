//! A create is never sent twice, and a lost answer leaves a token the caller can find.

mod common;

use std::time::Duration;

use common::{client_with, fast_options, setup};
use dbt_client::{ClientOptions, DbtClient, DbtError, PermissionGrant};
use dbt_cloud_emulator::{Emulator, Fault, Grant, Operation};

fn readonly() -> Vec<PermissionGrant> {
    vec![PermissionGrant {
        permission_set: "readonly".into(),
        project_id: None,
    }]
}

/// What a caller's sweep would do: list live tokens and keep those with the name.
async fn swept(client: &DbtClient, name: &str) -> Vec<i64> {
    client
        .list_service_tokens()
        .await
        .expect("list")
        .into_iter()
        .filter(|t| t.name == name)
        .map(|t| t.id)
        .collect()
}

fn assert_sent_once(emu: &Emulator, name: &str) {
    assert_eq!(emu.calls(Operation::TokenCreate), 1, "never retried");
    assert_eq!(emu.max_concurrent_creates(name), 1);
}

#[tokio::test]
async fn a_500_before_create_is_ambiguous_and_not_retried() {
    let (emu, client) = setup().await;
    emu.inject(Fault::status(Operation::TokenCreate, 500));
    let err = client
        .create_service_token("rot-a", &readonly())
        .await
        .expect_err("fails");
    assert!(matches!(err, DbtError::Server { status: 500, .. }));
    assert!(err.is_ambiguous());
    assert_sent_once(&emu, "rot-a");
    assert!(swept(&client, "rot-a").await.is_empty());
}

#[tokio::test]
async fn a_500_after_create_leaves_a_token_the_sweep_finds() {
    let (emu, client) = setup().await;
    emu.inject(Fault::status(Operation::TokenCreate, 500).after());
    let err = client
        .create_service_token("rot-b", &readonly())
        .await
        .expect_err("fails");
    assert!(err.is_ambiguous());
    assert_sent_once(&emu, "rot-b");
    let found = swept(&client, "rot-b").await;
    assert_eq!(found.len(), 1);
    assert!(client.is_token_live(found[0]).await.expect("live?"));
}

#[tokio::test]
async fn a_timed_out_create_is_ambiguous_and_not_retried() {
    let emu = common::emulator().await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let client = client_with(&emu, &emu.admin_token(), options).await;
    emu.inject(Fault::delay(Operation::TokenCreate, Duration::from_secs(2)).after());
    let err = client
        .create_service_token("rot-c", &readonly())
        .await
        .expect_err("times out");
    assert_eq!(err, DbtError::Timeout);
    assert!(err.is_ambiguous());
    assert_eq!(emu.calls(Operation::TokenCreate), 1, "never retried");
    assert_eq!(
        swept(&client, "rot-c").await.len(),
        1,
        "created before the delay"
    );
}

#[tokio::test]
async fn a_dropped_create_is_ambiguous_and_not_retried() {
    let (emu, client) = setup().await;
    emu.inject(Fault::drop(Operation::TokenCreate));
    let err = client
        .create_service_token("rot-d", &readonly())
        .await
        .expect_err("dropped");
    assert!(
        matches!(
            err,
            DbtError::Network {
                request_sent: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_ambiguous());
    assert_sent_once(&emu, "rot-d");
    assert!(swept(&client, "rot-d").await.is_empty());

    emu.reset_calls();
    emu.inject(Fault::drop(Operation::TokenCreate).after());
    let err = client
        .create_service_token("rot-d", &readonly())
        .await
        .expect_err("dropped");
    assert!(err.is_ambiguous());
    assert_sent_once(&emu, "rot-d");
    let found = swept(&client, "rot-d").await;
    assert_eq!(found.len(), 1, "the lost token is found");
    let live = emu.live_tokens();
    let on_server = live
        .iter()
        .find(|t| t.id == found[0])
        .expect("on the server");
    assert_eq!(on_server.grants, vec![Grant::account("readonly")]);
}

#[tokio::test]
async fn rejected_creates_are_definite_failures() {
    let (emu, client) = setup().await;
    emu.inject(Fault::rate_limited(Operation::TokenCreate, 1));
    let err = client
        .create_service_token("rot-e", &readonly())
        .await
        .expect_err("limited");
    assert!(matches!(err, DbtError::RateLimited { .. }));
    assert!(!err.is_ambiguous());
    assert_sent_once(&emu, "rot-e");

    let bad = vec![PermissionGrant {
        permission_set: "superuser".into(),
        project_id: None,
    }];
    let err = client
        .create_service_token("rot-e", &bad)
        .await
        .expect_err("invalid");
    assert!(matches!(err, DbtError::BadRequest { status: 400, .. }));
    assert!(!err.is_ambiguous());

    let viewer = emu.create_token("viewer", vec![Grant::account("account_viewer")]);
    let weak = client_with(&emu, &viewer.token_string, fast_options()).await;
    let err = weak
        .create_service_token("rot-e", &readonly())
        .await
        .expect_err("forbidden");
    assert!(matches!(err, DbtError::Forbidden { .. }));
    assert!(!err.is_ambiguous());
    assert!(swept(&client, "rot-e").await.is_empty());
}

#[tokio::test]
async fn an_empty_name_is_refused_before_any_request() {
    let (emu, client) = setup().await;
    let err = client
        .create_service_token("  ", &readonly())
        .await
        .expect_err("refused");
    assert!(matches!(err, DbtError::InvalidInput { .. }));
    assert_eq!(emu.calls(Operation::Any), 0);
}
