//! Client addresses (docs/SECURITY.md, "Client addresses"): the socket peer, unless the peer is
//! a trusted proxy (`ROTAD_TRUSTED_PROXIES`); then `X-Forwarded-For` names the client. A client
//! that sends the header itself gains nothing.

use rotad::config::Proxies;
use serde_json::json;

use crate::helpers::TestApp;
use crate::token_rules::token_with;

const LIMITED: &str = "203.0.113.0/24";

async fn status_from(app: &TestApp, token: &str, forwarded: Option<&str>) -> u16 {
    let mut req = app
        .http
        .get(format!("{}/api/v1/projects", app.base))
        .bearer_auth(token);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn a_forwarded_header_from_a_client_is_ignored() {
    let app = TestApp::spawn().await;
    let token = token_with(
        &app,
        "limited",
        json!({"accessTokenTrustedIps": [{"ipAddress": LIMITED}]}),
    )
    .await;
    assert_eq!(status_from(&app, &token, Some("203.0.113.7")).await, 403);
    assert_eq!(status_from(&app, &token, None).await, 403);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
    let app = TestApp::spawn_with(|a| a.trusted_proxies = Proxies(vec!["127.0.0.1".into()])).await;
    let token = token_with(
        &app,
        "proxied",
        json!({"accessTokenTrustedIps": [{"ipAddress": LIMITED}]}),
    )
    .await;
    assert_eq!(status_from(&app, &token, Some("203.0.113.7")).await, 200);
    // The right-most address not itself a trusted proxy is the client: a client cannot
    // prepend a trusted-looking address.
    assert_eq!(
        status_from(&app, &token, Some("203.0.113.7, 198.51.100.9")).await,
        403
    );
    assert_eq!(
        status_from(&app, &token, Some("198.51.100.9, 203.0.113.7, 127.0.0.1")).await,
        200
    );
    // Without the header, the proxy itself is the client.
    assert_eq!(status_from(&app, &token, None).await, 403);
}
