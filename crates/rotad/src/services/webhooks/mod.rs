//! Webhooks per project, environment and secret path (`/api/v1/webhooks`), as upstream.
//!
//! Events: `secrets.modified` on every secret write (rotation commits included) and
//! `secrets.rotation-failed` at the end of every failure episode. The URL and the signing key
//! are sealed at rest; the key is never returned and neither reaches a log line. Callers who
//! may read webhooks but not edit them see the URL as scheme and host only; URLs are capped at
//! 2048 characters and keys at 256.

mod delivery;

use std::fmt;
use std::net::SocketAddr;

pub use delivery::{deliver_due, signature_header};
pub(crate) use delivery::{rotation_failed_event, rotation_secrets_modified, secrets_modified};

use serde_json::json;

use super::audit::Event;
use super::authz::{allows, Action, Subject};
use super::projects::normalize_path;
use super::{new_id, App, Ctx};
use crate::error::{Error, Issue, Result};
use crate::store::{Environment, WebhookRow};
use crate::time::now_ms;

pub const GENERAL: &str = "general";
/// Longest webhook URL taken, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest webhook signing key taken, in characters.
pub const MAX_SECRET_KEY_CHARS: usize = 256;

/// The length limits of a new webhook's URL and signing key, as 422 issues naming the field.
pub fn length_issues(webhook_url: &str, secret_key: Option<&str>) -> Vec<Issue> {
    let too_big = |field: &str, max: usize| {
        Issue::new(
            "too_big",
            &[field],
            format!("String must contain at most {max} character(s)"),
        )
    };
    let mut issues = Vec::new();
    if webhook_url.trim().chars().count() > MAX_URL_CHARS {
        issues.push(too_big("webhookUrl", MAX_URL_CHARS));
    }
    if secret_key.is_some_and(|k| k.chars().count() > MAX_SECRET_KEY_CHARS) {
        issues.push(too_big("webhookSecretKey", MAX_SECRET_KEY_CHARS));
    }
    issues
}

/// A webhook to create. `Debug` shows the URL's scheme and host only and redacts the key.
#[derive(Clone)]
pub struct CreateWebhook {
    pub project_id: String,
    pub environment: String,
    pub secret_path: Option<String>,
    pub webhook_url: String,
    pub webhook_secret_key: Option<String>,
    pub webhook_type: Option<String>,
}

impl fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateWebhook")
            .field("project_id", &self.project_id)
            .field("environment", &self.environment)
            .field("secret_path", &self.secret_path)
            .field("webhook_url", &redacted_url(&self.webhook_url))
            .field(
                "webhook_secret_key",
                &self
                    .webhook_secret_key
                    .as_ref()
                    .map(|_| format_args!("[redacted]")),
            )
            .field("webhook_type", &self.webhook_type)
            .finish()
    }
}

/// A webhook as the API shows it (never its key). `Debug` shows the URL's scheme and host only.
#[derive(Clone)]
pub struct WebhookView {
    pub row: WebhookRow,
    pub url: String,
    pub environment: Environment,
}

impl fmt::Debug for WebhookView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookView")
            .field("row", &self.row)
            .field("url", &redacted_url(&self.url))
            .field("environment", &self.environment)
            .finish()
    }
}

/// A webhook URL reduced to its scheme and host (`https://hooks.example.com`): no userinfo,
/// port, path, query or fragment, any of which may carry a token. `[redacted]` when it does not
/// parse.
pub fn redacted_url(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(url) => match url.host() {
            Some(host) => format!("{}://{host}", url.scheme()),
            None => "[redacted]".to_string(),
        },
        Err(_) => "[redacted]".to_string(),
    }
}

fn webhook_not_found(id: &str) -> Error {
    Error::not_found(format!("Webhook with ID '{id}' not found"))
}

/// Whether an event at `event_path` concerns a webhook on `webhook_path`: the same folder, or
/// any folder below a path ending in `/**`.
pub fn path_matches(webhook_path: &str, event_path: &str) -> bool {
    match webhook_path.strip_suffix("/**") {
        Some(prefix) => {
            let prefix = prefix.trim_end_matches('/');
            prefix.is_empty()
                || event_path == prefix
                || event_path.starts_with(&format!("{prefix}/"))
        }
        None => webhook_path == event_path,
    }
}

fn clean_path(path: Option<&str>) -> Result<String> {
    let raw = path.map(str::trim).unwrap_or("/");
    let (base, glob) = match raw.strip_suffix("/**") {
        Some(base) => (base, true),
        None => (raw, false),
    };
    let base = normalize_path(Some(base))
        .ok_or_else(|| Error::invalid(&["secretPath"], "Invalid secret path"))?;
    Ok(match (glob, base.as_str()) {
        (true, "/") => "/**".to_string(),
        (true, _) => format!("{base}/**"),
        (false, _) => base,
    })
}

/// A webhook URL that passed the SSRF rule, and where its host may be reached.
pub(crate) struct CheckedUrl {
    pub url: url::Url,
    /// The addresses a named host resolved to and was checked at; a delivery connects to
    /// these only ([`dbt_client::InstanceUrl::pinned`]).
    pub pinned: Option<(String, Vec<SocketAddr>)>,
}

impl App {
    /// The SSRF rule of dbt instance URLs, for webhook URLs: `https://` to public addresses
    /// only, unless internal connections are allowed; never credentials in the URL.
    pub(crate) async fn check_webhook_url(&self, raw: &str) -> Result<CheckedUrl> {
        let invalid = || Error::bad_request("Invalid webhook URL");
        let url = url::Url::parse(raw.trim()).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::bad_request(
                "URLs with user credentials (e.g., user:pass@) are not allowed",
            ));
        }
        let checked = dbt_client::resolve_instance_url(
            url.as_str(),
            self.settings.allow_internal_ip_connections,
        )
        .await
        .map_err(|e| match e {
            dbt_client::DbtError::Blocked { message } => Error::bad_request(message),
            _ if url.scheme() == "http" => {
                Error::bad_request("Invalid webhook URL (only https:// is allowed)")
            }
            _ => invalid(),
        })?;
        Ok(CheckedUrl {
            url,
            pinned: checked.pinned,
        })
    }

    /// The webhook as stored now (after a change), as the API shows it.
    async fn reloaded_view(&self, id: &str) -> Result<WebhookView> {
        let row = self
            .store
            .get_webhook(id)
            .await?
            .ok_or_else(|| webhook_not_found(id))?;
        self.webhook_view(row).await
    }

    async fn webhook_view(&self, row: WebhookRow) -> Result<WebhookView> {
        let key = self.rotation_key(&row.project_id).await?;
        let url = key.open_str(&format!("{}:url", row.id), &row.url)?;
        let environment = self.find_environment(&row.project_id, &row.env_id).await?;
        Ok(WebhookView {
            row,
            url,
            environment,
        })
    }

    /// A webhook the caller may `action` on.
    async fn authorized_webhook(&self, ctx: &Ctx, id: &str, action: Action) -> Result<WebhookRow> {
        let row = self
            .store
            .get_webhook(id)
            .await?
            .ok_or_else(|| webhook_not_found(id))?;
        self.authorize(ctx, &row.project_id, Subject::Webhooks, action)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => webhook_not_found(id),
                other => other,
            })?;
        Ok(row)
    }

    pub async fn create_webhook(&self, ctx: &Ctx, input: CreateWebhook) -> Result<WebhookView> {
        let issues = length_issues(&input.webhook_url, input.webhook_secret_key.as_deref());
        if !issues.is_empty() {
            return Err(Error::Validation(issues));
        }
        let project = self
            .authorize(ctx, &input.project_id, Subject::Webhooks, Action::Create)
            .await?;
        let kind = input.webhook_type.as_deref().unwrap_or(GENERAL);
        if kind != GENERAL {
            return Err(Error::invalid(
                &["type"],
                "Only the \"general\" webhook type is supported",
            ));
        }
        let environment = self
            .find_environment(&project.id, &input.environment)
            .await?;
        let secret_path = clean_path(input.secret_path.as_deref())?;
        let url = self.check_webhook_url(&input.webhook_url).await?.url;
        let key = self.rotation_key(&project.id).await?;
        let id = new_id();
        let now = now_ms();
        let row = WebhookRow {
            url: key.seal_str(&format!("{id}:url"), url.as_str()),
            secret_key: input
                .webhook_secret_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(|k| key.seal_str(&format!("{id}:secret-key"), k)),
            id,
            project_id: project.id.clone(),
            env_id: environment.id.clone(),
            secret_path,
            webhook_type: kind.to_string(),
            is_disabled: false,
            last_status: None,
            last_run_error_message: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_webhook(&row).await?;
        self.audit(
            ctx,
            Some(&project.id),
            Event::new(
                "create-webhook",
                json!({"webhookId": row.id, "environment": environment.slug,
                       "secretPath": row.secret_path, "isDisabled": false}),
            ),
        )
        .await;
        self.webhook_view(row).await
    }

    pub async fn list_webhooks(
        &self,
        ctx: &Ctx,
        project_id: &str,
        environment: Option<&str>,
        secret_path: Option<&str>,
    ) -> Result<Vec<WebhookView>> {
        let project = self
            .authorize(ctx, project_id, Subject::Webhooks, Action::Read)
            .await?;
        // A URL may carry a token in its path or query: only those who may edit webhooks see
        // it whole, readers its scheme and host. (Every other answer with a webhook in it
        // needs edit or delete, which readers do not have.)
        let whole_urls = allows(
            self.project_role(ctx, &project).await?,
            Subject::Webhooks,
            Action::Edit,
        );
        let env_id = match environment.filter(|e| !e.trim().is_empty()) {
            Some(env) => Some(self.find_environment(&project.id, env).await?.id),
            None => None,
        };
        let path = match secret_path.filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(clean_path(Some(p))?),
            None => None,
        };
        let mut out = Vec::new();
        for row in self
            .store
            .list_webhooks(&project.id, env_id.as_deref())
            .await?
        {
            if path.as_ref().is_none_or(|p| *p == row.secret_path) {
                let mut view = self.webhook_view(row).await?;
                if !whole_urls {
                    view.url = redacted_url(&view.url);
                }
                out.push(view);
            }
        }
        Ok(out)
    }

    pub async fn set_webhook_disabled(
        &self,
        ctx: &Ctx,
        id: &str,
        disabled: bool,
    ) -> Result<WebhookView> {
        let row = self.authorized_webhook(ctx, id, Action::Edit).await?;
        self.store
            .set_webhook_disabled(id, disabled, now_ms())
            .await?;
        self.audit(
            ctx,
            Some(&row.project_id),
            Event::new(
                "update-webhook-status",
                json!({"webhookId": id, "isDisabled": disabled}),
            ),
        )
        .await;
        self.reloaded_view(id).await
    }

    pub async fn delete_webhook(&self, ctx: &Ctx, id: &str) -> Result<WebhookView> {
        let row = self.authorized_webhook(ctx, id, Action::Delete).await?;
        let view = self.webhook_view(row).await?;
        self.store.delete_webhook(id).await?;
        self.audit(
            ctx,
            Some(&view.row.project_id),
            Event::new("delete-webhook", json!({"webhookId": id})),
        )
        .await;
        Ok(view)
    }

    /// Sends a `test` event now and records the outcome on the webhook.
    pub async fn test_webhook(&self, ctx: &Ctx, id: &str) -> Result<WebhookView> {
        let row = self.authorized_webhook(ctx, id, Action::Edit).await?;
        let view = self.webhook_view(row).await?;
        let project = self.store.get_project(&view.row.project_id).await?;
        let payload = json!({
            "event": "test",
            "project": {
                "workspaceId": view.row.project_id,
                "projectId": view.row.project_id,
                "projectName": project.map(|p| p.name),
                "environment": view.environment.slug,
                "secretPath": view.row.secret_path,
            },
        });
        let outcome = self
            .send_webhook(&view.row, &payload.to_string(), &new_id())
            .await;
        let error = outcome.as_ref().err().map(String::as_str);
        self.store
            .set_webhook_result(
                id,
                if error.is_none() { "success" } else { "failed" },
                error,
                now_ms(),
            )
            .await?;
        self.reloaded_view(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(path_matches("/", "/"));
        assert!(!path_matches("/", "/app"));
        assert!(path_matches("/**", "/app/x"));
        assert!(path_matches("/app/**", "/app"));
        assert!(path_matches("/app/**", "/app/db"));
        assert!(!path_matches("/app/**", "/application"));
        assert_eq!(
            clean_path(Some("app//db/")).ok(),
            Some("/app/db".to_string())
        );
        assert_eq!(clean_path(Some("/**")).ok(), Some("/**".to_string()));
        assert!(clean_path(Some("/a/../b")).is_err());
    }

    #[test]
    fn debug_redacts_webhook_keys_and_urls() {
        let create = CreateWebhook {
            project_id: "p-1".to_string(),
            environment: "dev".to_string(),
            secret_path: None,
            webhook_url: "https://hooks.example.com/t/KnownSecretPath?token=KnownSecretQuery"
                .to_string(),
            webhook_secret_key: Some("KnownSecretSigningKey".to_string()),
            webhook_type: None,
        };
        let view = WebhookView {
            row: WebhookRow {
                id: "w-1".to_string(),
                project_id: "p-1".to_string(),
                env_id: "e-1".to_string(),
                secret_path: "/".to_string(),
                url: Vec::new(),
                secret_key: None,
                webhook_type: GENERAL.to_string(),
                is_disabled: false,
                last_status: None,
                last_run_error_message: None,
                created_at: 0,
                updated_at: 0,
            },
            url: "https://user:KnownSecretPassword@hooks.example.com/KnownSecretPath".to_string(),
            environment: Environment {
                id: "e-1".to_string(),
                project_id: "p-1".to_string(),
                name: "Development".to_string(),
                slug: "dev".to_string(),
                position: 0,
                created_at: 0,
                updated_at: 0,
            },
        };
        for shown in [format!("{create:?}"), format!("{view:?}")] {
            assert!(!shown.contains("KnownSecret"), "{shown}");
            assert!(shown.contains("https://hooks.example.com"), "{shown}");
        }
        assert!(format!("{create:?}").contains("[redacted]"));
    }
}
