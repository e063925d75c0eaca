//! Secret rotations: the `dbt-service-token` resource and the crash-safe engine
//! (docs/ARCHITECTURE.md).

mod attempt;
mod commit;
mod engine;
mod health;
mod lanes;
mod manage;
mod patch;
mod pause;
mod reads;
mod recovery;
pub mod revoked;
pub mod schedule;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use attempt::{rotation_span, RotateError, Trigger, ROTATION_SPAN_TARGET};
pub use engine::{Engine, EngineSettings};
pub use health::{RotationHealth, DUE_WITHIN_MS};
pub use lanes::PatchLanes;
pub use manage::{CreateRotation, DeleteOptions, RotationParameters, UpdateRotation};
pub use pause::{PausePoints, Paused};
pub use reads::Page;

use std::sync::Arc;

use super::cache::Entry;
use super::keyring::project_scope;
use super::App;
use crate::config::TimeUnit;
use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::providers::Credential;
use crate::store::changes::scope;
use crate::store::{Environment, RotationRow, RotationViewRow};
use schedule::{RotateAt, Schedule};

pub const DBT_TYPE: &str = "dbt-service-token";
pub const DBT_NAME: &str = "DBT Service Token";
pub const IN_PROGRESS: &str = "A rotation is already in progress. Please try again shortly.";
pub const FAILURE_PREFIX: &str =
    "Infisical encountered an issue while generating credentials with the configured inputs: ";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsMapping {
    pub service_token: String,
}

/// A rotation with what its API answer shows beside the row.
#[derive(Debug, Clone)]
pub struct RotationView {
    pub row: RotationRow,
    pub environment: Environment,
    pub folder_path: String,
    pub connection_name: String,
    pub last_message: Option<String>,
    pub parameters: Value,
    pub secrets_mapping: Value,
}

/// The slots and which one is published.
#[derive(Debug, Clone)]
pub struct GeneratedCredentials {
    pub credentials: Vec<Credential>,
    pub active_index: i64,
}

pub fn not_found(id: &str) -> Error {
    Error::not_found(format!(
        "Could not find {DBT_NAME} Rotation with ID \"{id}\""
    ))
}

/// 404 for a rotation of type `kind`.
pub fn not_found_of(kind: &crate::providers::RotationType, id: &str) -> Error {
    Error::not_found(format!(
        "Could not find {} Rotation with ID \"{id}\"",
        kind.name
    ))
}

/// 400 unless `row` is a rotation of type `kind`.
pub(crate) fn check_type(kind: &crate::providers::RotationType, row: &RotationRow) -> Result<()> {
    if row.rotation_type == kind.slug {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "Secret Rotation with ID \"{}\" is not configured for {}",
            row.id, kind.name
        )))
    }
}

/// Upstream's failure text: the prefix and the provider's message, at most 1024 characters.
pub fn failure_message(inner: &str) -> String {
    let text = format!("{FAILURE_PREFIX}{inner}");
    if text.chars().count() <= 1024 {
        text
    } else {
        let cut: String = text.chars().take(1021).collect();
        format!("{cut}...")
    }
}

/// The credentials in a rotation's slots.
pub(crate) fn open_slots(key: &DataKey, row: &RotationRow) -> Result<Vec<Credential>> {
    let text = key.open_str(&format!("{}:credentials", row.id), &row.credentials)?;
    serde_json::from_str(&text).map_err(|e| Error::Unexpected(e.into()))
}

/// The secret names a rotation publishes to, by `secretsMapping` field.
pub(crate) fn mapped_keys(row: &RotationRow) -> Result<Vec<(String, String)>> {
    let mapping: serde_json::Map<String, Value> =
        serde_json::from_str(&row.secrets_mapping).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(mapping
        .into_iter()
        .filter_map(|(field, key)| key.as_str().map(|k| (field, k.to_string())))
        .collect())
}

/// The slot a rotation's next credential goes to: the second while only one is filled, then
/// the one not published.
pub(crate) fn inactive_slot(slots: &[Credential], row: &RotationRow) -> usize {
    if slots.len() < 2 {
        slots.len()
    } else {
        (1 - row.active_index.clamp(0, 1)) as usize
    }
}

/// Seals slots for the rotation `rotation_id`.
pub(crate) fn seal_slots(
    key: &DataKey,
    rotation_id: &str,
    slots: &[Credential],
) -> Result<Vec<u8>> {
    let text = serde_json::to_string(slots).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(key.seal_str(&format!("{rotation_id}:credentials"), &text))
}

/// A credential sealed onto intent `intent_id`.
pub(crate) fn seal_credential(
    key: &DataKey,
    intent_id: &str,
    credential: &Credential,
) -> Result<Vec<u8>> {
    let text = serde_json::to_string(credential).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(key.seal_str(&format!("{intent_id}:credential"), &text))
}

/// The schedule of a rotation row in `unit`.
pub(crate) fn schedule(row: &RotationRow, failed: bool, unit: TimeUnit) -> Schedule {
    Schedule {
        auto: row.is_auto_rotation_enabled,
        failed,
        interval: row.rotation_interval,
        rotate_at: RotateAt {
            hours: row.rotate_at_hours.clamp(0, 23) as u32,
            minutes: row.rotate_at_minutes.clamp(0, 59) as u32,
        },
        unit,
    }
}

impl App {
    pub(crate) async fn rotation_key(&self, project_id: &str) -> Result<DataKey> {
        self.keys
            .key_for(self.store.as_ref(), &project_scope(project_id))
            .await
    }

    /// Builds the API view of a rotation row.
    pub(crate) async fn rotation_view(&self, row: RotationRow) -> Result<RotationView> {
        if let Some(view) = self.cached_rotation_view(&row.id).await? {
            return Ok(view.value.clone());
        }
        // Deleted: built from the row the caller holds.
        let environment = self
            .store
            .list_environments(&row.project_id)
            .await?
            .into_iter()
            .find(|e| e.id == row.env_id)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("rotation environment missing")))?;
        let folder_path = self
            .store
            .get_folder(&row.folder_id)
            .await?
            .map(|f| f.path)
            .unwrap_or_else(|| "/".to_string());
        let connection_name = self
            .store
            .get_connection(&row.connection_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        self.view_of(row, environment, folder_path, connection_name)
            .await
    }

    /// A rotation's view, cached (docs/ARCHITECTURE.md, "Caches"); one statement on a miss.
    pub(crate) async fn cached_rotation_view(
        &self,
        id: &str,
    ) -> Result<Option<Arc<Entry<RotationView>>>> {
        let shelf = &self.caches.rotations;
        if let Some(hit) = shelf.get(id) {
            return Ok(Some(hit));
        }
        let at = shelf.snapshot();
        let Some(found) = self.store.get_rotation_view(id).await? else {
            return Ok(None);
        };
        let row = &found.rotation;
        let scopes = vec![
            scope::rotation(&row.id),
            scope::project(&row.project_id),
            scope::connection(&row.connection_id),
        ];
        let bytes = 2048 + row.parameters.len() + row.secrets_mapping.len() + row.credentials.len();
        let view = self.view_of_found(found).await?;
        Ok(Some(shelf.put(id.to_string(), view, scopes, at, bytes)))
    }

    /// A rotation's view read from the store now, past the cache.
    pub(crate) async fn fresh_rotation_view(&self, id: &str) -> Result<Option<RotationView>> {
        match self.store.get_rotation_view(id).await? {
            Some(found) => Ok(Some(self.view_of_found(found).await?)),
            None => Ok(None),
        }
    }

    /// The view of a rotation read with its environment, folder and connection (one statement,
    /// see `ReadStore`).
    pub(crate) async fn view_of_found(&self, found: RotationViewRow) -> Result<RotationView> {
        let environment = found.environment();
        self.view_of(
            found.rotation,
            environment,
            found.folder_path.unwrap_or_else(|| "/".to_string()),
            found.connection_name.unwrap_or_default(),
        )
        .await
    }

    /// The view of rows read together (one statement, see `ReadStore`).
    pub(crate) async fn view_of(
        &self,
        row: RotationRow,
        environment: Environment,
        folder_path: String,
        connection_name: String,
    ) -> Result<RotationView> {
        let last_message = match &row.last_rotation_message {
            Some(sealed) => Some(
                self.rotation_key(&row.project_id)
                    .await?
                    .open_str(&format!("{}:message", row.id), sealed)?,
            ),
            None => None,
        };
        Ok(RotationView {
            parameters: serde_json::from_str(&row.parameters).unwrap_or(Value::Null),
            secrets_mapping: serde_json::from_str(&row.secrets_mapping).unwrap_or(Value::Null),
            row,
            environment,
            folder_path,
            connection_name,
            last_message,
        })
    }
}
