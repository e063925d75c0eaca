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
