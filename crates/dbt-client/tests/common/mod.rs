//! Helpers shared by the client's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use dbt_client::{ClientOptions, DbtClient};
use dbt_cloud_emulator::{spawn, Emulator, EmulatorConfig};

/// Options for tests: the emulator is on loopback over http, and retries are quick.
pub fn fast_options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_retries: 3,
        retry_base_delay: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(50),
        allow_internal: true,
    }
}

pub async fn emulator() -> Emulator {
    spawn(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

pub async fn client_with(emu: &Emulator, token: &str, options: ClientOptions) -> DbtClient {
    DbtClient::connect(
        &emu.base_url(),
        &emu.account_id().to_string(),
        token,
        options,
    )
    .await
    .expect("client connects")
}

/// An emulator and an admin client with [`fast_options`].
pub async fn setup() -> (Emulator, DbtClient) {
    let emu = emulator().await;
    let client = client_with(&emu, &emu.admin_token(), fast_options()).await;
    (emu, client)
}
