//! A webhook receiver on loopback that verifies signatures as upstream documents them and
//! records every request it is sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::TestApp;

/// One request: what it carried and how the sink answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub signature: Option<String>,
    pub delivery_id: Option<String>,
    pub body: String,
    pub status: u16,
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Request>>>);

pub struct Sink {
    pub url: String,
    received: Received,
}

/// The key every subscription signs with.
pub const KEY: &str = "sink-signing-key";

/// Whether `signature` is `t=<timestamp>;<hex HMAC-SHA256 of the raw body under key>` where
/// `<timestamp>` is the body's own `timestamp` field: the documented check.
pub fn verifies(key: &str, signature: Option<&str>, body: &str) -> bool {
    let Some((t, hex)) = signature
        .and_then(|s| s.strip_prefix("t="))
        .and_then(|s| s.split_once(';'))
    else {
        return false;
    };
    let stamped = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["timestamp"].as_i64());
    if stamped.map(|ms| ms.to_string()).as_deref() != Some(t) {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(body.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == hex
}

impl Sink {
    /// A sink that accepts what is signed with [`KEY`].
    pub async fn start() -> Sink {
        Self::start_with(KEY, 0).await
    }

    /// A sink that answers 500 to its first `failures` requests.
    pub async fn start_failing(failures: usize) -> Sink {
        Self::start_with(KEY, failures).await
    }

    /// A sink that answers 401 to whatever `key` does not verify, and 500 to its first
    /// `failures` verified requests.
    pub async fn start_with(key: &'static str, failures: usize) -> Sink {
        let received = Received::default();
        let store = received.clone();
        let refused = Arc::new(AtomicUsize::new(0));
        let router = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let store = store.clone();
                let refused = refused.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let signature = header("x-infisical-signature");
                    let status = if !verifies(key, signature.as_deref(), &body) {
                        StatusCode::UNAUTHORIZED
                    } else if refused.fetch_add(1, Ordering::SeqCst) < failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    if let Ok(mut r) = store.0.lock() {
                        r.push(Request {
                            signature,
                            delivery_id: header("x-rotad-delivery-id"),
                            body,
                            status: status.as_u16(),
                        });
                    }
                    status
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

    /// Creates a webhook signed with [`KEY`] for `dev` at `path`; returns its id.
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

    /// Every request so far, accepted or not.
    pub fn requests(&self) -> Vec<Request> {
        self.received
            .0
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The bodies accepted for `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Whether there were requests and every one verified with [`KEY`] the documented way.
    pub fn all_signed(&self) -> bool {
        let requests = self.requests();
        !requests.is_empty()
            && requests
                .iter()
                .all(|r| verifies(KEY, r.signature.as_deref(), &r.body))
    }
}
