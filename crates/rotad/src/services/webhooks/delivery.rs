//! Webhook events and their delivery: an outbox in the store, worked by every replica.
//!
//! An event becomes one delivery row per matching webhook in the same call that caused it, so
//! it survives a restart; [`deliver_due`] sends what is due, retrying with exponential backoff
//! until the receiver answers 2xx or the attempts run out. Bodies carry names and paths, never
//! a secret value.

use std::sync::OnceLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::path_matches;
use crate::services::{new_id, App};
use crate::store::{DeliveryRow, Environment, Folder, RotationRow, Store, WebhookRow};
use crate::time::now_ms;

/// Attempts per delivery before it is given up (upstream: 5).
pub const MAX_ATTEMPTS: i64 = 5;
/// First retry delay; each further one doubles (upstream: exponential, 3 s).
const RETRY_BASE_MS: i64 = 3_000;
/// How long a claimed delivery is held before another worker may send it again.
const CLAIM_MS: i64 = 60_000;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
pub const SIGNATURE_HEADER: &str = "x-infisical-signature";

/// `t=<unix ms>;<hex HMAC-SHA256 of "<t>.<body>">`, as upstream signs.
pub fn signature_header(key: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot be reached.
        Err(_) => return format!("t={timestamp};"),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp};{hex}")
}

fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // A redirect could lead past the SSRF check.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
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

/// The enabled webhooks of the environment, and the environment and folder an event happened
/// in. None when there are no webhooks (then one query is all an event costs, on every secret
/// write) or the scope is gone.
async fn event_scope(
    store: &dyn Store,
    project_id: &str,
    env_id: &str,
    folder_id: &str,
) -> Option<(Vec<WebhookRow>, Environment, Folder)> {
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
    Some((hooks, environment, folder))
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
    let Some((hooks, environment, folder)) =
        event_scope(store, project_id, env_id, folder_id).await
    else {
        return Vec::new();
    };
    let body = json!({
        "event": "secrets.modified",
        "project": {
            "workspaceId": project_id,
            "projectId": project_id,
            "environment": environment.slug,
            "secretPath": folder.path,
        },
        "timestamp": now_ms(),
    });
    deliveries(&hooks, &folder.path, "secrets.modified", body)
}

/// `secrets.rotation-failed` at the start of a failure episode, with upstream's sanitized
/// message (a category, never dbt's own words).
pub(crate) async fn rotation_failed_event(
    store: &dyn Store,
    row: &RotationRow,
    manual: bool,
    error_message: &str,
) -> Vec<DeliveryRow> {
    let Some((hooks, environment, folder)) =
        event_scope(store, &row.project_id, &row.env_id, &row.folder_id).await
    else {
        return Vec::new();
    };
    let body = json!({
        "event": "secrets.rotation-failed",
        "project": {
            "workspaceId": row.project_id,
            "projectId": row.project_id,
            "environment": environment.slug,
            "environmentName": environment.name,
            "secretPath": folder.path,
            "rotationId": row.id,
            "rotationName": row.name,
            "triggeredManually": manual,
            "errorMessage": error_message,
        },
        "timestamp": now_ms(),
    });
    deliveries(&hooks, &folder.path, "secrets.rotation-failed", body)
}

impl App {
    /// POSTs `body` to the webhook, signed when it has a key. The error text names the
    /// failure (status or transport), never the URL, which may carry a token.
    pub(crate) async fn send_webhook(
        &self,
        webhook: &WebhookRow,
        body: &str,
    ) -> std::result::Result<(), String> {
        let key = self
            .rotation_key(&webhook.project_id)
            .await
            .map_err(|_| "cannot open the webhook's keys".to_string())?;
        let url = key
            .open_str(&format!("{}:url", webhook.id), &webhook.url)
            .map_err(|_| "cannot open the webhook URL".to_string())?;
        // Checked again at send time: DNS may have changed since the webhook was created.
        let url = self
            .check_webhook_url(&url)
            .await
            .map_err(|e| e.to_string())?;
        let mut request = http_client()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(sealed) = &webhook.secret_key {
            let secret = key
                .open_str(&format!("{}:secret-key", webhook.id), sealed)
                .map_err(|_| "cannot open the webhook key".to_string())?;
            request = request.header(SIGNATURE_HEADER, signature_header(&secret, now_ms(), body));
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
        let outcome = app.send_webhook(&webhook, &delivery.payload).await;
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
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        // HMAC-SHA256("key", "1.{}"), computed independently (Python's hmac module).
        let header = signature_header("key", 1, "{}");
        assert_eq!(
            header,
            "t=1;1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(header, signature_header("other", 1, "{}"));
        assert_ne!(header, signature_header("key", 2, "{}"));
    }

    #[test]
    fn retries_back_off() {
        let first = retry_delay_ms(1);
        let third = retry_delay_ms(3);
        assert!((3_000..=3_750).contains(&first), "{first}");
        assert!((12_000..=15_000).contains(&third), "{third}");
    }
}
