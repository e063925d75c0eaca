//! Helpers shared by the emulator's integration tests.
#![allow(dead_code)]

use dbt_cloud_emulator::{spawn, Emulator, EmulatorConfig};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;

pub async fn emulator() -> Emulator {
    spawn(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

pub fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client builds")
}

/// A request to `path` (relative to the base URL) authenticated with `Token <token>`.
pub fn request(emu: &Emulator, method: Method, path: &str, token: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}{path}", emu.base_url()))
        .header("Authorization", format!("Token {token}"))
}

pub fn tokens_path(emu: &Emulator) -> String {
    format!("/api/v3/accounts/{}/service-tokens/", emu.account_id())
}

pub fn token_path(emu: &Emulator, id: i64) -> String {
    format!("/api/v3/accounts/{}/service-tokens/{id}/", emu.account_id())
}

/// Sends and returns the status and the JSON body (`Value::Null` when empty).
pub async fn send(builder: RequestBuilder) -> (u16, Value) {
    let response = builder.send().await.expect("request succeeds");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body reads");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("body is JSON")
    };
    (status, body)
}

/// Creates a token through the API with the admin token; returns the response data.
pub async fn create(emu: &Emulator, name: &str, grants: Value) -> Value {
    let (status, body) = send(
        request(emu, Method::POST, &tokens_path(emu), &emu.admin_token())
            .json(&serde_json::json!({"name": name, "permission_grants": grants})),
    )
    .await;
    assert_eq!(status, 200, "create failed: {body}");
    body["data"].clone()
}
