//! Reads and deletes recover from transient faults, within bounds.

mod common;

use std::time::{Duration, Instant};

use common::{client_with, fast_options, setup};
use dbt_client::{ClientOptions, DbtClient, DbtError, TokenState};
use dbt_cloud_emulator::{Fault, Operation};

#[tokio::test]
async fn a_read_recovers_from_json_500s() {
    let (emu, client) = setup().await;
    let id = emu.create_token("t", Vec::new()).id;
    emu.inject(Fault::status(Operation::TokenGet, 500).times(2));
    assert!(matches!(
        client.get_service_token(id).await,
        Ok(TokenState::Live(_))
    ));
    assert_eq!(emu.calls(Operation::TokenGet), 3);
}

#[tokio::test]
async fn a_list_recovers_from_an_html_502() {
    let (emu, client) = setup().await;
    emu.inject(Fault::html(Operation::TokenList, 502));
    let tokens = client.list_service_tokens().await.expect("recovers");
    assert_eq!(tokens.len(), 1);
    assert_eq!(emu.calls(Operation::TokenList), 2);
}

#[tokio::test]
async fn a_read_waits_out_retry_after() {
    let emu = common::emulator().await;
    let options = ClientOptions {
        max_retry_delay: Duration::from_secs(3),
        ..fast_options()
    };
    let client = client_with(&emu, &emu.admin_token(), options).await;
    emu.inject(Fault::rate_limited(Operation::AccountGet, 1));
    let started = Instant::now();
    client.get_account().await.expect("recovers");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(emu.calls(Operation::AccountGet), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_is_returned_not_waited() {
    let (emu, client) = setup().await;
    emu.inject(Fault::rate_limited(Operation::AccountGet, 120));
    let started = Instant::now();
    let err = client.get_account().await.expect_err("gives up");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(matches!(err, DbtError::RateLimited { .. }));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(emu.calls(Operation::AccountGet), 1);
}

#[tokio::test]
async fn a_read_recovers_from_a_dropped_connection() {
    let (emu, client) = setup().await;
    emu.inject(Fault::drop(Operation::ProjectList));
    assert_eq!(client.list_projects().await.expect("recovers").len(), 3);
    assert_eq!(emu.calls(Operation::ProjectList), 2);
}

#[tokio::test]
async fn a_read_recovers_from_a_timeout() {
    let emu = common::emulator().await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let client = client_with(&emu, &emu.admin_token(), options).await;
    emu.inject(Fault::delay(Operation::AccountGet, Duration::from_secs(3)));
    let started = Instant::now();
    client.get_account().await.expect("recovers");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(emu.calls(Operation::AccountGet), 2);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (emu, client) = setup().await;
    emu.inject(Fault::status(Operation::TokenList, 503).times(10));
    let err = client.list_service_tokens().await.expect_err("gives up");
    assert_eq!(
        err,
        DbtError::Server {
            status: 503,
            message: Some("There was a server error. Please contact support!".into())
        }
    );
    assert_eq!(
        emu.calls(Operation::TokenList),
        4,
        "one attempt and max_retries = 3"
    );

    emu.clear_faults();
    emu.reset_calls();
    let once = client_with(
        &emu,
        &emu.admin_token(),
        ClientOptions {
            max_retries: 0,
            ..fast_options()
        },
    )
    .await;
    emu.inject(Fault::status(Operation::TokenList, 500));
    assert!(once.list_service_tokens().await.is_err());
    assert_eq!(emu.calls(Operation::TokenList), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (emu, _) = setup().await;
    let stranger = client_with(&emu, "dbtc_unknownunknown", fast_options()).await;
    assert!(matches!(
        stranger.get_account().await,
        Err(DbtError::Unauthorized { .. })
    ));
    assert_eq!(emu.calls(Operation::AccountGet), 1);
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_succeeds_on_retry() {
    let (emu, client) = setup().await;
    let id = emu.create_token("t", Vec::new()).id;
    emu.inject(Fault::status(Operation::TokenDelete, 500).after());
    client
        .delete_service_token(id)
        .await
        .expect("the retry's 404 means done");
    assert_eq!(emu.calls(Operation::TokenDelete), 2);
    assert!(!emu.live_tokens().iter().any(|t| t.id == id));
}

#[tokio::test]
async fn a_delete_recovers_from_drops_and_rate_limits() {
    let emu = common::emulator().await;
    let options = ClientOptions {
        max_retry_delay: Duration::from_secs(3),
        ..fast_options()
    };
    let client = client_with(&emu, &emu.admin_token(), options).await;
    let id = emu.create_token("t", Vec::new()).id;
    emu.inject(Fault::drop(Operation::TokenDelete));
    emu.inject(Fault::rate_limited(Operation::TokenDelete, 1));
    client.delete_service_token(id).await.expect("recovers");
    assert_eq!(emu.calls(Operation::TokenDelete), 3);
    assert!(!emu.live_tokens().iter().any(|t| t.id == id));
}

#[tokio::test]
async fn an_unreachable_host_is_a_network_error_sent_nowhere() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = DbtClient::connect(
        &format!("http://127.0.0.1:{port}"),
        "1",
        "dbtc_whatever",
        fast_options(),
    )
    .await
    .expect("connect makes no request");
    let err = client.get_account().await.expect_err("refused");
    assert!(
        matches!(
            err,
            DbtError::Network {
                request_sent: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_ambiguous());
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_delete_that_timed_out_after_deleting_succeeds_on_retry() {
    let emu = common::emulator().await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..fast_options()
    };
    let client = client_with(&emu, &emu.admin_token(), options).await;
    let id = emu.create_token("t", Vec::new()).id;
    emu.inject(Fault::delay(Operation::TokenDelete, Duration::from_secs(3)).after());
    client.delete_service_token(id).await.expect("recovers");
    assert_eq!(emu.calls(Operation::TokenDelete), 2);
    assert!(!emu.live_tokens().iter().any(|t| t.id == id));
}
