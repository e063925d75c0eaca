//! Rotation providers: who issues and revokes the credentials a rotation publishes.
//! dbt Cloud service tokens are the first; others (database users, cloud keys) plug in here.

pub mod dbt;

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A credential as a rotation keeps it in a slot (dbt's shape: `{serviceToken, tokenId, tokenName}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub service_token: String,
    pub token_id: i64,
    pub token_name: String,
}

/// A provider failure, with the provider's own message (never secret text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    /// The call may have taken effect (a create whose answer was lost).
    pub ambiguous: bool,
    /// What kind of failure, for alerts that must not quote the provider.
    pub kind: FailureKind,
}

/// A failure's category, as upstream's failed-rotation webhook names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureKind {
    Auth,
    NotFound,
    RateLimit,
    Connection,
    Timeout,
    /// Another HTTP answer, with its status when known.
    Http(Option<u16>),
    #[default]
    Other,
}

impl FailureKind {
    /// Upstream's sanitized text for the `secrets.rotation-failed` webhook: a category, never
    /// the provider's own words. `message` is only searched for upstream's fallback keywords.
    pub fn alert_text(self, message: &str) -> String {
        let lower = message.to_lowercase();
        let category = match self {
            FailureKind::Auth => "an authentication/authorization error".to_string(),
            FailureKind::NotFound => "a not found error".to_string(),
            FailureKind::RateLimit => "a rate limit error".to_string(),
            FailureKind::Connection => "a connection error".to_string(),
            FailureKind::Timeout => "a timeout error".to_string(),
            FailureKind::Http(Some(status)) => format!("an HTTP error (status {status})"),
            FailureKind::Http(None) => "an HTTP error (status unknown)".to_string(),
            FailureKind::Other if lower.contains("timeout") || lower.contains("etimedout") => {
                "a timeout error".to_string()
            }
            FailureKind::Other
                if lower.contains("econnrefused")
                    || lower.contains("econnreset")
                    || lower.contains("connect") =>
            {
                "a connection error".to_string()
            }
            FailureKind::Other
                if lower.contains("authentication")
                    || lower.contains("unauthorized")
                    || lower.contains("permission") =>
            {
                "an authentication/authorization error".to_string()
            }
            FailureKind::Other => {
                return "Credential rotation failed. Check the rotation status in the dashboard \
                        for more details."
                    .to_string()
            }
        };
        format!(
            "Credential rotation failed due to {category}. Check the rotation status in the \
             dashboard for more details."
        )
    }
}

#[async_trait]
pub trait RotationProvider: Send + Sync {
    /// Issues a new credential named `name`. Never retried blindly.
    async fn issue(&self, name: &str) -> Result<Credential, ProviderError>;
    /// Revokes a credential; an already revoked or unknown one is success.
    async fn revoke(&self, credential_id: i64) -> Result<(), ProviderError>;
    /// Whether the credential still authenticates.
    async fn is_live(&self, credential_id: i64) -> Result<bool, ProviderError>;
    /// Live credentials named `name`, created at or after `since` (ms), not in `known`.
    async fn find_orphans(
        &self,
        name: &str,
        since: i64,
        known: &HashSet<i64>,
    ) -> Result<Vec<i64>, ProviderError>;
}
