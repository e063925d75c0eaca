//! What goes over the wire, checked against a raw one-shot HTTP server.

mod common;

use common::fast_options;
use dbt_client::{DbtClient, DbtError, PermissionGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves `response` verbatim to each of up to `connections` connections and returns
/// the raw requests received.
async fn raw_server(response: String, connections: usize) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut requests = Vec::new();
        for _ in 0..connections {
            let Ok(Ok((mut stream, _))) =
                tokio::time::timeout(std::time::Duration::from_secs(2), listener.accept()).await
            else {
                break;
            };
            requests.push(read_request(&mut stream).await);
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        requests
    });
    (base, task)
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&raw).to_string()
}

fn http_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn client(base: &str, token: &str) -> DbtClient {
    DbtClient::connect(base, "17", token, fast_options())
        .await
        .expect("connects")
}

#[tokio::test]
async fn requests_carry_bearer_auth_json_headers_and_trailing_slashes() {
    let body = r#"{"status":{"code":200,"is_success":true},"data":{"id":17,"name":"Acme"}}"#;
    let (base, server) = raw_server(http_response("200 OK", body), 1).await;
    let account = client(&base, "dbtc_WireTest")
        .await
        .get_account()
        .await
        .expect("account");
    assert_eq!(account.name, "Acme");
    let requests = server.await.expect("join");
    let request = requests[0].to_ascii_lowercase();
    assert!(
        request.starts_with("get /api/v2/accounts/17/ http/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains("\r\nauthorization: bearer dbtc_wiretest\r\n"));
    assert!(request.contains("\r\naccept: application/json\r\n"));
    assert!(request.contains("\r\ncontent-type: application/json\r\n"));
}

#[tokio::test]
async fn create_sends_name_and_grants_without_null_project_ids() {
    let body = r#"{"status":{"code":200,"is_success":true},"data":{"id":5,"name":"n","token_string":"dbtc_AbCdEfGx"},"extra":{}}"#;
    let (base, server) = raw_server(http_response("200 OK", body), 1).await;
    let grants = [
        PermissionGrant {
            permission_set: "job_admin".into(),
            project_id: Some(9),
        },
        PermissionGrant {
            permission_set: "account_viewer".into(),
            project_id: None,
        },
    ];
    let created = client(&base, "dbtc_t")
        .await
        .create_service_token("n", &grants)
        .await
        .expect("created");
    assert_eq!(created.id, 5);
    let request = server.await.expect("join").remove(0);
    assert!(
        request.starts_with("POST /api/v3/accounts/17/service-tokens/ HTTP/1.1"),
        "{request}"
    );
    let json = request.split("\r\n\r\n").nth(1).expect("body");
    let sent: serde_json::Value = serde_json::from_str(json).expect("json body");
    assert_eq!(
        sent,
        serde_json::json!({"name": "n", "permission_grants": [
            {"permission_set": "job_admin", "project_id": 9},
            {"permission_set": "account_viewer"}
        ]})
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_server) = raw_server(http_response("200 OK", "{}"), 1).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: {target}/api/v2/accounts/17/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (base, server) = raw_server(redirect, 1).await;
    let err = client(&base, "dbtc_t")
        .await
        .get_account()
        .await
        .expect_err("302");
    assert!(
        matches!(err, DbtError::UnexpectedStatus { status: 302, .. }),
        "{err:?}"
    );
    assert_eq!(server.await.expect("join").len(), 1);
    assert!(
        target_server.await.expect("join").is_empty(),
        "the redirect target was never called"
    );
}

#[tokio::test]
async fn token_text_echoed_by_the_server_is_scrubbed() {
    let secret = "legacy-hex-key-0123456789abcdef";
    let body = format!(
        r#"{{"status":{{"code":400,"is_success":false,"user_message":"Key {secret} or dbtc_AbCdEfGleaked is not valid"}},"data":null}}"#
    );
    let (base, _server) = raw_server(http_response("400 Bad Request", &body), 1).await;
    let err = client(&base, secret)
        .await
        .get_account()
        .await
        .expect_err("400");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains("AbCdEfGleaked"), "{shown}");
    assert_eq!(
        err.dbt_message(),
        Some("Key [REDACTED] or dbtc_[REDACTED] is not valid")
    );
}

#[tokio::test]
async fn unusable_success_bodies_are_invalid_responses() {
    let no_secret =
        r#"{"status":{"is_success":true},"data":{"id":5,"name":"n","token_string":""}}"#;
    let (base, _server) = raw_server(http_response("200 OK", no_secret), 1).await;
    let err = client(&base, "dbtc_t")
        .await
        .create_service_token("n", &[])
        .await
        .expect_err("no secret");
    assert!(matches!(err, DbtError::InvalidResponse { status: 200, .. }));
    assert!(err.is_ambiguous(), "the token exists without its secret");

    let html = "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<html></html>";
    let (base, _server) = raw_server(html.to_owned(), 1).await;
    let err = client(&base, "dbtc_t")
        .await
        .get_account()
        .await
        .expect_err("html");
    assert!(matches!(err, DbtError::InvalidResponse { status: 200, .. }));
    assert!(!err.to_string().contains("<html>"), "{err}");
}
