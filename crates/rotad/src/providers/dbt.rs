//! dbt Cloud service tokens as a rotation provider.

use async_trait::async_trait;
use dbt_client::{DbtClient, DbtError, PermissionGrant, TokenState};
use serde::{Deserialize, Serialize};

use super::{
    intent_name, Credential, FailureKind, ProviderError, RotationProvider, RotationType,
    TokenCredential,
};

/// The `dbt-service-token` rotation type.
pub const TYPE: RotationType = RotationType {
    slug: "dbt-service-token",
    name: "DBT Service Token",
    app: "dbt",
    mapping: &[("serviceToken", "DBT_SERVICE_TOKEN")],
};

/// A rotation's `parameters` for the `dbt-service-token` type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DbtParameters {
    pub token_name: String,
    pub permission_grants: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grant {
    pub permission_set: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<f64>,
}

/// dbt publishes no limit on a token's name; 255 is the cap of its other v3 string fields.
pub const MAX_TOKEN_NAME: usize = 255;

/// The permission sets upstream accepts (the seed's enum).
pub const PERMISSION_SETS: [&str; 28] = [
    "account_admin",
    "account_viewer",
    "admin",
    "analyst",
    "billing_admin",
    "cost_insights_admin",
    "cost_insights_viewer",
    "cost_management_admin",
    "cost_management_viewer",
    "database_admin",
    "developer",
    "fusion_admin",
    "git_admin",
    "job_admin",
    "job_runner",
    "job_viewer",
    "manage_marketplace_apps",
    "member",
    "metadata_only",
    "owner",
    "project_creator",
    "readonly",
    "scim_only",
    "security_admin",
    "semantic_layer_only",
    "stakeholder",
    "team_admin",
    "webhooks_only",
];

/// dbt's message when it sent one, else the client's description.
pub fn describe(e: &DbtError) -> String {
    e.dbt_message()
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string())
}

fn provider_error(prefix: &str, e: &DbtError) -> ProviderError {
    ProviderError {
        message: format!("{prefix}: {}", describe(e)),
        ambiguous: e.is_ambiguous(),
        kind: kind_of(e),
    }
}

fn kind_of(e: &DbtError) -> FailureKind {
    match e {
        DbtError::Unauthorized { .. } | DbtError::Forbidden { .. } => FailureKind::Auth,
        DbtError::NotFound { .. } => FailureKind::NotFound,
        DbtError::RateLimited { .. } => FailureKind::RateLimit,
        DbtError::Network { .. } | DbtError::Blocked { .. } => FailureKind::Connection,
        DbtError::Timeout => FailureKind::Timeout,
        other => match other.status() {
            Some(status) => FailureKind::Http(Some(status)),
            None => FailureKind::Other,
        },
    }
}

/// Counts a dbt call for `/metrics`: `ok`, the HTTP status, or `network`/`timeout`.
fn counted<T>(operation: &'static str, result: Result<T, DbtError>) -> Result<T, DbtError> {
    let status = match &result {
        Ok(_) => "ok".to_string(),
        Err(DbtError::Timeout) => "timeout".to_string(),
        Err(e) => e
            .status()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "network".to_string()),
    };
    crate::metrics::global().dbt_call(operation, &status);
    result
}

pub struct DbtProvider {
    client: DbtClient,
    token_name: String,
    grants: Vec<PermissionGrant>,
}

impl DbtProvider {
    pub fn new(client: DbtClient, parameters: &DbtParameters) -> Self {
        let grants = parameters
            .permission_grants
            .iter()
            .map(|g| PermissionGrant {
                permission_set: g.permission_set.clone(),
                project_id: g.project_id.map(|p| p as i64),
            })
            .collect();
        Self {
            client,
            token_name: parameters.token_name.clone(),
            grants,
        }
    }
}

#[async_trait]
impl RotationProvider for DbtProvider {
    fn target(&self) -> String {
        format!("{}#{}", self.client.base_url(), self.client.account_id())
    }

    fn credential_name(&self, intent_id: &str, _slot: usize) -> String {
        intent_name(&self.token_name, intent_id, MAX_TOKEN_NAME)
    }

    async fn issue(
        &self,
        name: &str,
        _prepared: Option<&Credential>,
    ) -> Result<Credential, ProviderError> {
        let created = self.client.create_service_token(name, &self.grants).await;
        let created = counted("token_create", created)
            .map_err(|e| provider_error("Failed to create service token", &e))?;
        Ok(Credential::Token(TokenCredential {
            service_token: created.token_string,
            token_id: created.id,
            token_name: created.name,
            target: self.target(),
        }))
    }

    async fn revoke(&self, id: &str) -> Result<(), ProviderError> {
        let id = token_id(id)?;
        let prefix = format!("Failed to remove service token with tokenId {id}");
        counted("token_delete", self.client.delete_service_token(id).await)
            .map_err(|e| provider_error(&prefix, &e))
    }

    async fn is_live(&self, credential: &Credential) -> Result<bool, ProviderError> {
        let id = token_id(&credential.id())?;
        match counted("token_get", self.client.get_service_token(id).await) {
            Ok(TokenState::Live(_)) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(provider_error("Failed to check service token", &e)),
        }
    }

    async fn find_named(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let tokens = counted("token_list", self.client.list_service_tokens().await)
            .map_err(|e| provider_error("Failed to list service tokens", &e))?;
        Ok(tokens
            .into_iter()
            .filter(|t| t.name == name && t.state == 1)
            .map(|t| t.id.to_string())
            .collect())
    }
}

/// A dbt token id as the engine carries it (a string).
fn token_id(id: &str) -> Result<i64, ProviderError> {
    id.parse().map_err(|_| ProviderError {
        message: format!("Unreadable service token id \"{id}\""),
        ambiguous: false,
        kind: FailureKind::Other,
    })
}
