//! Rotation providers built from stored connections: the [`ProviderFactory`] the engine uses
//! (docs/ARCHITECTURE.md, "Layers").

use std::sync::Arc;

use async_trait::async_trait;
use dbt_client::{ClientOptions, DbtClient};

use super::model::dbt_error;
use super::open_credentials;
use crate::providers::dbt::{DbtParameters, DbtProvider};
use crate::providers::{FailureKind, ProviderError, ProviderFactory, RotationProvider};
use crate::services::keyring::{org_scope, Keyring};
use crate::store::Store;

/// Opens a connection's sealed credentials and connects a dbt client with them.
pub struct ConnectionProviders {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    options: ClientOptions,
}

impl ConnectionProviders {
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, options: ClientOptions) -> Self {
        Self {
            store,
            keys,
            options,
        }
    }
}

fn failure(message: String) -> ProviderError {
    ProviderError {
        message,
        ambiguous: false,
        kind: FailureKind::Other,
    }
}

#[async_trait]
impl ProviderFactory for ConnectionProviders {
    async fn provider(
        &self,
        connection_id: &str,
        parameters: Option<&str>,
    ) -> Result<Box<dyn RotationProvider>, ProviderError> {
        let row = self
            .store
            .get_connection(connection_id)
            .await
            .map_err(|e| failure(format!("Could not load the app connection: {e}")))?
            .ok_or_else(|| {
                failure(format!(
                    "Could not find App Connection with ID {connection_id}"
                ))
            })?;
        let key = self
            .keys
            .key_for(self.store.as_ref(), &org_scope(&row.org_id))
            .await
            .map_err(|e| failure(e.to_string()))?;
        let credentials = open_credentials(&key, &row).map_err(|e| failure(e.to_string()))?;
        let client = DbtClient::connect(
            &credentials.instance_url,
            &credentials.account_id,
            &credentials.api_token,
            self.options.clone(),
        )
        .await
        .map_err(|e| failure(dbt_error("Failed to connect to DBT", &e).to_string()))?;
        let parameters = match parameters {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| failure(format!("Unreadable rotation parameters: {e}")))?,
            None => DbtParameters {
                token_name: String::new(),
                permission_grants: Vec::new(),
            },
        };
        Ok(Box::new(DbtProvider::new(client, &parameters)))
    }
}
