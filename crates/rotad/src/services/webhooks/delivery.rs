//! Webhook events and their delivery: an outbox in the store, worked by every replica.
//!
//! An event becomes one delivery row per matching webhook in the same call that caused it, so
//! it survives a restart; [`deliver_due`] sends what is due, retrying with exponential backoff
//! until the receiver answers 2xx or the attempts run out. Bodies carry names and paths, never
//! a secret value.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::path_matches;
use crate::services::{new_id, App};
use crate::store::{DeliveryRow, Environment, Folder, Project, RotationRow, Store, WebhookRow};
use crate::time::now_ms;

/// Attempts per delivery before it is given up (upstream: 5).
pub const MAX_ATTEMPTS: i64 = 5;
/// First retry delay; each further one doubles (upstream: exponential, 3 s).
const RETRY_BASE_MS: i64 = 3_000;
/// How long a claimed delivery is held before another worker may send it again.
const CLAIM_MS: i64 = 60_000;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
pub const SIGNATURE_HEADER: &str = "x-infisical-signature";

/// Header naming a delivery; the same on every retry of it, so receivers can drop duplicates.
pub const DELIVERY_ID_HEADER: &str = "x-rotad-delivery-id";

/// `t=<timestamp>;<hex HMAC-SHA256 of the raw body>`, as upstream signs: `timestamp` is the
/// body's own `timestamp` field (unix ms) and only the body is signed (docs/COMPATIBILITY.md).
pub fn signature_header(key: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return format!("t={timestamp};"),
    };
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp};{hex}")
}

/// The body of one attempt: the queued event with `timestamp` set to the time of sending, as
/// upstream stamps each request (a retry carries a fresh one, so receivers may bound a replay
/// window). An event that is not a JSON object is sent as queued.
pub fn stamped_body(payload: &str, timestamp: i64) -> String {
    match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(mut map)) => {
            map.insert("timestamp".to_string(), Value::from(timestamp));
            Value::Object(map).to_string()
        }
        _ => payload.to_string(),
    }
}

/// Refuses every lookup: a pinned delivery reaches its host only through the addresses the
/// SSRF check resolved, never through a second lookup that could answer differently.
struct NoLookups;

impl reqwest::dns::Resolve for NoLookups {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let message = format!("{} was not resolved by the SSRF check", name.as_str());
        Box::pin(async move { Err(message.into()) })
    }
}

/// The client of one delivery: no proxy from the environment (it would connect elsewhere than
/// the checked address), no redirects (they could lead past the check), and for a named host
/// connections to the `pinned` addresses only.
fn delivery_client(pinned: Option<&(String, Vec<SocketAddr>)>) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    if let Some((domain, addrs)) = pinned {
        builder = builder
            .dns_resolver(Arc::new(NoLookups))
            .resolve_to_addrs(domain, addrs);
    }
    builder.build()
}

fn retry_delay_ms(attempts: i64) -> i64 {
    let exponent = attempts.clamp(1, 10) - 1;
    let delay = RETRY_BASE_MS.saturating_mul(1 << exponent);
    delay + (delay as f64 * rand::random::<f64>() * 0.25) as i64
}

/// Deliveries of `event` to each of `hooks` whose path covers `path`.
fn deliveries(hooks: &[WebhookRow], path: &str, event: &str, body: Value) -> Vec<DeliveryRow> {
    let now = now_ms();
    let payload = body.to_string();
    hooks
        .iter()
        .filter(|w| path_matches(&w.secret_path, path))
        .map(|w| DeliveryRow {
            id: new_id(),
            webhook_id: w.id.clone(),
            event: event.to_string(),
            payload: payload.clone(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
        })
        .collect()
}

/// Where an event happened.
struct Scope {
    hooks: Vec<WebhookRow>,
    project: Project,
    environment: Environment,
    folder: Folder,
}

impl Scope {
    /// Upstream's `project` object of a general webhook's payload.
    fn project_fields(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("workspaceId".into(), json!(self.project.id));
        map.insert("projectId".into(), json!(self.project.id));
        map.insert("projectName".into(), json!(self.project.name));
        map.insert("environment".into(), json!(self.environment.slug));
        map.insert("secretPath".into(), json!(self.folder.path));
        map
    }
}

/// The enabled webhooks of the environment, and the project, environment and folder an event
/// happened in. None when there are no webhooks (then one query is all an event costs, on
/// every secret write) or the scope is gone.
async fn event_scope(
    store: &dyn Store,
    project_id: &str,
    env_id: &str,
    folder_id: &str,
) -> Option<Scope> {
    let hooks: Vec<WebhookRow> = match store.list_webhooks(project_id, Some(env_id)).await {
        Ok(hooks) => hooks.into_iter().filter(|w| !w.is_disabled).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read webhooks; event not queued");
            return None;
        }
    };
    if hooks.is_empty() {
        return None;
    }
    let environment = store
        .list_environments(project_id)
        .await
        .ok()?
        .into_iter()
        .find(|e| e.id == env_id)?;
    let folder = store.get_folder(folder_id).await.ok()??;
    let project = store.get_project(project_id).await.ok()??;
    Some(Scope {
        hooks,
        project,
        environment,
        folder,
    })
}

/// `secrets.modified` for the folder `folder_id`: consumers learn of a new value (a rotated
/// token included) without polling. Its deliveries go into the [`crate::store::Trail`] of the
/// write that changed the folder.
pub(crate) async fn secrets_modified(
    store: &dyn Store,
    project_id: &str,
    env_id: &str,
    folder_id: &str,
) -> Vec<DeliveryRow> {
    let Some(scope) = event_scope(store, project_id, env_id, folder_id).await else {
        return Vec::new();
    };
    let body = json!({"event": "secrets.modified", "project": scope.project_fields()});
    deliveries(&scope.hooks, &scope.folder.path, "secrets.modified", body)
}

/// `secrets.modified` for a rotation's commit: the folder's event, naming the rotation that
/// published the new value.
pub(crate) async fn rotation_secrets_modified(
    store: &dyn Store,
    row: &RotationRow,
) -> Vec<DeliveryRow> {
    let Some(scope) = event_scope(store, &row.project_id, &row.env_id, &row.folder_id).await else {
        return Vec::new();
    };
    let body = json!({
        "event": "secrets.modified",
        "project": scope.project_fields(),
        "rotation": rotation_fields(row),
    });
    deliveries(&scope.hooks, &scope.folder.path, "secrets.modified", body)
}

fn rotation_fields(row: &RotationRow) -> Value {
    json!({"id": row.id, "name": row.name, "type": row.rotation_type})
}

/// `secrets.rotation-failed` at the start of a failure episode, with upstream's sanitized
/// message (a category, never dbt's own words).
pub(crate) async fn rotation_failed_event(
    store: &dyn Store,
    row: &RotationRow,
    manual: bool,
    error_message: &str,
) -> Vec<DeliveryRow> {
    let Some(scope) = event_scope(store, &row.project_id, &row.env_id, &row.folder_id).await else {
        return Vec::new();
    };
    let mut project = scope.project_fields();
    project.insert("environmentName".into(), json!(scope.environment.name));
    project.insert("rotationId".into(), json!(row.id));
    project.insert("rotationName".into(), json!(row.name));
    project.insert("rotationType".into(), json!(row.rotation_type));
    project.insert("triggeredManually".into(), json!(manual));
    project.insert("errorMessage".into(), json!(error_message));
    let body = json!({
        "event": "secrets.rotation-failed",
        "project": project,
        "rotation": rotation_fields(row),
    });
    deliveries(
        &scope.hooks,
        &scope.folder.path,
        "secrets.rotation-failed",
        body,
    )
}

impl App {
    /// POSTs the event `payload` to the webhook, stamped with the time of sending, signed when
    /// the webhook has a key and named by `delivery_id`. The error text names the failure
    /// (status or transport), never the URL, which may carry a token.
    pub(crate) async fn send_webhook(
        &self,
        webhook: &WebhookRow,
        payload: &str,
        delivery_id: &str,
    ) -> std::result::Result<(), String> {
        let key = self
            .rotation_key(&webhook.project_id)
            .await
            .map_err(|_| "cannot open the webhook's keys".to_string())?;
        let url = key
            .open_str(&format!("{}:url", webhook.id), &webhook.url)
            .map_err(|_| "cannot open the webhook URL".to_string())?;
        // Checked again at send time: DNS may have changed since the webhook was created.
        let checked = self
            .check_webhook_url(&url)
            .await
            .map_err(|e| e.to_string())?;
        let timestamp = now_ms();
        let body = stamped_body(payload, timestamp);
        let mut headers = vec![(DELIVERY_ID_HEADER, delivery_id.to_string())];
        if let Some(sealed) = &webhook.secret_key {
            let secret = key
                .open_str(&format!("{}:secret-key", webhook.id), sealed)
                .map_err(|_| "cannot open the webhook key".to_string())?;
            headers.push((
                SIGNATURE_HEADER,
                signature_header(&secret, timestamp, &body),
            ));
        }
        post(&checked.url, checked.pinned.as_ref(), &body, &headers).await
    }
}

/// POSTs `body` to `url`, connecting only to the `pinned` addresses its host was checked at.
async fn post(
    url: &url::Url,
    pinned: Option<&(String, Vec<SocketAddr>)>,
    body: &str,
    headers: &[(&str, String)],
) -> std::result::Result<(), String> {
    let client = delivery_client(pinned).map_err(|_| "Webhook request failed".to_string())?;
    let mut request = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!(
            "Webhook responded with status {}",
            r.status().as_u16()
        )),
        Err(e) if e.is_timeout() => Err("Webhook timed out".to_string()),
        Err(e) if e.is_connect() => Err("Webhook could not be reached".to_string()),
        Err(_) => Err("Webhook request failed".to_string()),
    }
}

/// Sends every due delivery once (at most `limit`); returns how many were sent successfully.
pub async fn deliver_due(app: &App, limit: i64) -> usize {
    let now = now_ms();
    let due = match app.store.claim_deliveries(now, now + CLAIM_MS, limit).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the webhook outbox");
            return 0;
        }
    };
    let mut sent = 0;
    for delivery in due {
        let webhook = match app.store.get_webhook(&delivery.webhook_id).await {
            Ok(Some(w)) if !w.is_disabled => w,
            // Deleted (rows cascade) or disabled since: nothing to send.
            Ok(_) => {
                let _ = app.store.delete_delivery(&delivery.id).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a webhook; delivery stays queued");
                continue;
            }
        };
        let outcome = app
            .send_webhook(&webhook, &delivery.payload, &delivery.id)
            .await;
        let now = now_ms();
        let (status, error) = match &outcome {
            Ok(()) => ("success", None),
            Err(e) => ("failed", Some(e.as_str())),
        };
        if let Err(e) = app
            .store
            .set_webhook_result(&webhook.id, status, error, now)
            .await
        {
            tracing::warn!(error = %e, "cannot record a webhook result");
        }
        let stored = match outcome {
            Ok(()) => {
                sent += 1;
                app.store.delete_delivery(&delivery.id).await
            }
            Err(message) if delivery.attempts >= MAX_ATTEMPTS => {
                tracing::warn!(webhook = %webhook.id, event = %delivery.event, attempts = delivery.attempts, error = %message, "webhook delivery given up");
                app.store.delete_delivery(&delivery.id).await
            }
            Err(message) => {
                tracing::info!(webhook = %webhook.id, event = %delivery.event, attempts = delivery.attempts, error = %message, "webhook delivery failed; will retry");
                app.store
                    .defer_delivery(
                        &delivery.id,
                        now + retry_delay_ms(delivery.attempts),
                        &message,
                    )
                    .await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "cannot update the webhook outbox");
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn signature_is_hmac_of_the_body_alone() {
        // HMAC-SHA256("key", "{}"), computed independently (Python's hmac module).
        let header = signature_header("key", 1, "{}");
        assert_eq!(
            header,
            "t=1;a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032"
        );
        assert_ne!(header, signature_header("other", 1, "{}"));
        assert!(signature_header("key", 2, "{}").ends_with(&header[4..]));
    }

    #[test]
    fn each_attempt_is_stamped_with_its_time() {
        let queued = r#"{"event":"test","project":{"workspaceId":"p"}}"#;
        let body: Value = serde_json::from_str(&stamped_body(queued, 42)).expect("json");
        assert_eq!(body["timestamp"], 42);
        assert_eq!(body["project"]["workspaceId"], "p");
        let again: Value =
            serde_json::from_str(&stamped_body(&body.to_string(), 43)).expect("json");
        assert_eq!(again["timestamp"], 43);
        assert_eq!(stamped_body("[1]", 7), "[1]");
    }

    /// A receiver on loopback: `/hook` answers 200 and counts, `/moved` redirects to `/hook`.
    async fn receiver() -> (SocketAddr, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let router = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { axum::http::StatusCode::OK }
                }),
            )
            .route(
                "/moved",
                axum::routing::post(|| async { axum::response::Redirect::temporary("/hook") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (addr, hits)
    }

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("url")
    }

    #[tokio::test]
    async fn a_delivery_connects_only_to_the_checked_addresses() {
        let (addr, hits) = receiver().await;
        let port = addr.port();
        // `.test` names never resolve (RFC 6761): only the pinned address reaches the receiver.
        let pinned = ("hooks.test".to_string(), vec![addr]);
        let hook = url(&format!("http://hooks.test:{port}/hook"));
        assert_eq!(post(&hook, Some(&pinned), "{}", &[]).await, Ok(()));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // No other name is looked up, not even one the system resolves to the receiver.
        let other = url(&format!("http://localhost:{port}/hook"));
        assert!(post(&other, Some(&pinned), "{}", &[]).await.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // A redirect is answered, not followed.
        let moved = url(&format!("http://hooks.test:{port}/moved"));
        assert_eq!(
            post(&moved, Some(&pinned), "{}", &[]).await,
            Err("Webhook responded with status 307".to_string())
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_delivery_client_takes_no_proxy_and_follows_no_redirect() {
        for pinned in [None, Some(("hooks.test".to_string(), Vec::new()))] {
            let client = delivery_client(pinned.as_ref()).expect("client");
            let shown = format!("{client:?}");
            assert!(
                !shown.contains("proxies"),
                "a proxy from the environment: {shown}"
            );
            assert!(shown.contains("Policy(None)"), "redirects: {shown}");
        }
    }

    #[test]
    fn retries_back_off() {
        let first = retry_delay_ms(1);
        let third = retry_delay_ms(3);
        assert!((3_000..=3_750).contains(&first), "{first}");
        assert!((12_000..=15_000).contains(&third), "{third}");
    }
}
