//! A webhook receiver on loopback that records what it is sent.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::TestApp;

/// A delivery: its signature header and its body.
type Delivery = (Option<String>, String);

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Delivery>>>);

pub struct Sink {
    pub url: String,
    received: Received,
}

/// The key every subscription signs with.
pub const KEY: &str = "sink-signing-key";

impl Sink {
    pub async fn start() -> Sink {
        Self::start_failing(0).await
    }

    /// A sink that answers 500 to its first `failures` requests (they are not recorded).
    pub async fn start_failing(failures: usize) -> Sink {
        let received = Received::default();
        let store = received.clone();
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let router = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let store = store.clone();
                let refused = refused.clone();
                async move {
                    use std::sync::atomic::Ordering;
                    if refused.fetch_add(1, Ordering::SeqCst) < failures {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let signature = headers
                        .get("x-infisical-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if let Ok(mut r) = store.0.lock() {
                        r.push((signature, body));
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Sink {
            url: format!("http://{addr}/hook"),
            received,
        }
    }

    /// Creates a signed webhook for `dev` at `path`; returns its id.
    pub async fn subscribe(&self, app: &TestApp, project: &str, path: &str) -> String {
        let res = app
            .post(
                "/api/v1/webhooks",
                json!({"workspaceId": project, "environment": "dev", "secretPath": path,
                       "webhookUrl": self.url, "webhookSecretKey": KEY}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["webhook"]["id"].as_str().expect("id").to_string()
    }

    fn bodies(&self) -> Vec<Delivery> {
        self.received
            .0
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The bodies received for `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter_map(|(_, b)| serde_json::from_str::<Value>(&b).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Whether every delivery so far carried `t=<ms>;<hex HMAC-SHA256 of "<t>.<body>">`.
    pub fn all_signed(&self) -> bool {
        let bodies = self.bodies();
        !bodies.is_empty()
            && bodies.iter().all(|(signature, body)| {
                let Some((t, hex)) = signature
                    .as_deref()
                    .and_then(|s| s.strip_prefix("t="))
                    .and_then(|s| s.split_once(';'))
                else {
                    return false;
                };
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()) else {
                    return false;
                };
                mac.update(format!("{t}.{body}").as_bytes());
                let expected: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                expected == hex
            })
    }
}
