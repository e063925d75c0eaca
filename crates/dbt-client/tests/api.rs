//! The client's calls against the emulator, without faults.

mod common;

use common::setup;
use dbt_client::{PermissionGrant, TokenState};
use dbt_cloud_emulator::{Grant, Operation};

fn grants() -> Vec<PermissionGrant> {
    vec![
        PermissionGrant {
            permission_set: "job_admin".into(),
            project_id: Some(101),
        },
        PermissionGrant {
            permission_set: "account_viewer".into(),
            project_id: None,
        },
    ]
}

#[tokio::test]
async fn get_account_returns_the_account() {
    let (emu, client) = setup().await;
    let account = client.get_account().await.expect("account");
    assert_eq!(account.id, emu.account_id());
    assert_eq!(account.name, "Emulated Account");
    assert_eq!(account.state, Some(1));
    assert_eq!(client.account_id(), emu.account_id().to_string());
    assert_eq!(client.base_url(), emu.base_url());
}

#[tokio::test]
async fn a_created_token_is_live_listed_and_usable() {
    let (emu, client) = setup().await;
    let created = client
        .create_service_token("rotad-ci", &grants())
        .await
        .expect("created");
    assert_eq!(created.name, "rotad-ci");
    assert!(created.token_string.starts_with("dbtc_"));

    let on_server = emu
        .live_tokens()
        .into_iter()
        .find(|t| t.id == created.id)
        .expect("exists on the server");
    assert_eq!(on_server.token_string, created.token_string);
    assert_eq!(
        on_server.grants,
        vec![
            Grant::project("job_admin", 101),
            Grant::account("account_viewer")
        ]
    );

    match client.get_service_token(created.id).await.expect("get") {
        TokenState::Live(token) => {
            assert_eq!(token.id, created.id);
            assert_eq!(token.name, "rotad-ci");
            assert_eq!(token.permission_grants, grants());
            assert!(token.created_at.is_some(), "v3 timestamp parsed");
            assert_eq!(token.uid.as_deref(), Some(&created.token_string[5..12]));
        }
        TokenState::Revoked => panic!("a new token is live"),
    }
    assert!(client.is_token_live(created.id).await.expect("live?"));

    let listed = client.list_service_tokens().await.expect("list");
    assert!(listed
        .iter()
        .any(|t| t.id == created.id && t.name == "rotad-ci"));

    // The new secret works as a credential of its own.
    let own = common::client_with(&emu, &created.token_string, common::fast_options()).await;
    own.get_account()
        .await
        .expect("the new token authenticates");
}

#[tokio::test]
async fn deleted_and_unknown_tokens_are_revoked() {
    let (emu, client) = setup().await;
    let created = client
        .create_service_token("short", &grants())
        .await
        .expect("created");
    client
        .delete_service_token(created.id)
        .await
        .expect("deleted");
    assert!(!emu.live_tokens().iter().any(|t| t.id == created.id));
    assert_eq!(
        client.get_service_token(created.id).await.expect("get"),
        TokenState::Revoked,
        "state 2 is revoked"
    );
    assert!(!client.is_token_live(created.id).await.expect("live?"));
    assert_eq!(
        client.get_service_token(987_654).await.expect("get"),
        TokenState::Revoked,
        "404 is revoked"
    );
    client
        .delete_service_token(created.id)
        .await
        .expect("deleting again is fine");
    client
        .delete_service_token(987_654)
        .await
        .expect("deleting an unknown token is fine");
    assert!(!client
        .list_service_tokens()
        .await
        .expect("list")
        .iter()
        .any(|t| t.id == created.id));
}

#[tokio::test]
async fn listing_reads_every_page() {
    let (emu, client) = setup().await;
    for n in 0..230 {
        emu.create_token(&format!("bulk-{n}"), Vec::new());
    }
    let doomed = emu.create_token("deleted", Vec::new());
    client
        .delete_service_token(doomed.id)
        .await
        .expect("delete");
    emu.reset_calls();

    let listed = client.list_service_tokens().await.expect("list");
    assert_eq!(
        listed.len(),
        231,
        "230 tokens plus the admin token, no deleted one"
    );
    assert_eq!(emu.calls(Operation::TokenList), 3, "pages of 100");
    let ids: Vec<i64> = listed.iter().map(|t| t.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "ordered by id, no duplicates");
    assert!(listed.iter().all(|t| t.is_active()));
}

#[tokio::test]
async fn projects_are_listed_with_default_descriptions() {
    let (_emu, client) = setup().await;
    let projects = client.list_projects().await.expect("projects");
    let names: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Analytics", "Marketing", "Finance"]);
    assert_eq!(projects[0].description, "Core analytics models");
    assert_eq!(
        projects[1].description, "",
        "null description becomes empty"
    );
    assert!(projects
        .iter()
        .all(|p| p.created_at.is_some() && p.updated_at.is_some()));
}
