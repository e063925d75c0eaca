//! Creating, reading, changing and deleting rotations.

use std::sync::Arc;

use serde_json::{json, Value};

use super::attempt::{IssueFailure, Trigger};
use super::{
    not_found, schedule, seal_slots, RotateError, RotationView, SecretsMapping, IN_PROGRESS,
};
use crate::error::{Error, Result};
use crate::providers::dbt::DbtParameters;
use crate::providers::sql::SqlParameters;
use crate::providers::RotationType;
use crate::services::audit::Event;
use crate::services::authz::{Action, Subject};
use crate::services::connections::check_grants;
use crate::services::secrets::seal_secret;
use crate::services::{new_id, App, Ctx};
use crate::store::{RotationRow, SecretRow, StoreError, Trail, INTENT_SETTLED};
use crate::time::now_ms;

#[derive(Debug, Clone)]
pub struct CreateRotation {
    pub name: String,
    pub project_id: String,
    pub description: Option<String>,
    pub connection_id: String,
    pub environment: String,
    pub secret_path: String,
    pub is_auto_rotation_enabled: bool,
    pub rotation_interval: i64,
    pub rotate_at: Option<(i64, i64)>,
    pub parameters: RotationParameters,
    /// Secret names by `secretsMapping` field, in the type's order.
    pub secrets_mapping: Vec<(String, String)>,
    /// The request body, for the audit log.
    pub audit_body: Value,
}

/// A rotation's `parameters`, by type.
#[derive(Debug, Clone)]
pub enum RotationParameters {
    Dbt(DbtParameters),
    Sql(SqlParameters),
}

impl RotationParameters {
    fn to_json(&self) -> Result<String> {
        match self {
            RotationParameters::Dbt(p) => serde_json::to_string(p),
            RotationParameters::Sql(p) => serde_json::to_string(p),
        }
        .map_err(|e| Error::Unexpected(e.into()))
    }
}

/// A dbt rotation's mapping as the type's fields.
impl From<SecretsMapping> for Vec<(String, String)> {
    fn from(m: SecretsMapping) -> Self {
        vec![("serviceToken".to_string(), m.service_token)]
    }
}

#[derive(Debug, Clone)]
pub struct UpdateRotation {
    /// The type the route is of (the rotation must be of it).
    pub kind: &'static RotationType,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval: Option<i64>,
    pub rotate_at: Option<(i64, i64)>,
    pub parameters: Option<DbtParameters>,
    pub secrets_mapping: Option<SecretsMapping>,
    pub audit_body: Value,
}

impl Default for UpdateRotation {
    fn default() -> Self {
        Self {
            kind: &crate::providers::dbt::TYPE,
            name: None,
            description: None,
            is_auto_rotation_enabled: None,
            rotation_interval: None,
            rotate_at: None,
            parameters: None,
            secrets_mapping: None,
            audit_body: Value::Null,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    pub delete_secrets: bool,
    pub revoke_generated_credentials: bool,
}

/// How often a PATCH or a delete starts again from a fresh read when the row keeps changing.
pub(super) const PATCH_ATTEMPTS: usize = 10;

pub(super) fn name_taken(name: &str, path: &str) -> Error {
    Error::bad_request(format!(
        "A Secret Rotation with the name \"{name}\" already exists at the secret path \"{path}\""
    ))
}

pub(super) fn secrets_exist(path: &str, keys: &[&str]) -> Error {
    Error::bad_request(format!(
        "The following secrets already exist at the path \"{path}\": {}",
        keys.join(", ")
    ))
}

impl App {
    /// A rotation of type `kind` the caller may `action` on, with its row.
    pub(crate) async fn authorized_rotation(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
        action: Action,
    ) -> Result<RotationRow> {
        let row = self
            .store
            .get_rotation(id)
            .await?
            .filter(|r| r.org_id == ctx.actor.org_id)
            .ok_or_else(|| super::not_found_of(kind, id))?;
        self.authorize(ctx, &row.project_id, Subject::SecretRotation, action)
            .await?;
        super::check_type(kind, &row)?;
        Ok(row)
    }

    pub async fn create_rotation(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        input: CreateRotation,
    ) -> Result<RotationView> {
        let project = self
            .authorize(
                ctx,
                &input.project_id,
                Subject::SecretRotation,
                Action::Create,
            )
            .await?;
        let loc = self
            .locate_in(project, &input.environment, Some(&input.secret_path))
            .await
            .map_err(|_| {
                Error::bad_request(format!(
                    "Could not find folder with path \"{}\" in environment \"{}\" for project with ID \"{}\"",
                    input.secret_path, input.environment, input.project_id
                ))
            })?;
        let connection = self
            .usable_connection(ctx, &input.connection_id, &loc.project.id, kind.app)
            .await?;
        if let RotationParameters::Dbt(p) = &input.parameters {
            check_grants(&connection, &p.permission_grants)?;
        }
        if self
            .store
            .get_rotation_by_name(&loc.folder.id, &input.name)
            .await?
            .is_some()
        {
            return Err(name_taken(&input.name, &loc.folder.path));
        }
        let names: Vec<&str> = input
            .secrets_mapping
            .iter()
            .map(|(_, k)| k.as_str())
            .collect();
        if names
            .iter()
            .enumerate()
            .any(|(i, n)| names[..i].contains(n))
        {
            return Err(Error::bad_request(format!(
                "Secrets mapping keys must be unique. \"{}\" contains duplicate keys.",
                names.join(", ")
            )));
        }
        let mut taken = Vec::new();
        for name in &names {
            if self
                .store
                .get_secret(&loc.folder.id, name, "shared")
                .await?
                .is_some()
            {
                taken.push(*name);
            }
        }
        if !taken.is_empty() {
            return Err(secrets_exist(&loc.folder.path, &taken));
        }

        // Everything is checked: now issue the first credential, tracked by an intent.
        let rotation_id = new_id();
        let parameters = input.parameters.to_json()?;
        let provider = self
            .engine
            .provider(&connection.id, Some(&parameters))
            .await
            .map_err(|e| Error::bad_request(e.message))?;
        provider
            .validate()
            .await
            .map_err(|e| Error::bad_request(e.message))?;
        self.engine.pauses.at("connected").await;
        let intent = self.engine.new_intent(
            &rotation_id,
            &loc.project.id,
            &connection.id,
            provider.as_ref(),
            0,
        );
        let credential = match self.engine.issue_tracked(provider.as_ref(), &intent).await {
            Ok(c) => c,
            Err(failure) => {
                self.engine.work_revocations(Some(&rotation_id)).await;
                return Err(match failure {
                    IssueFailure::Provider(e) => Error::bad_request(e.message),
                    IssueFailure::Settled => Error::bad_request(IN_PROGRESS),
                    IssueFailure::Other(e) => e,
                });
            }
        };
        let now = now_ms();
        let key = self.rotation_key(&loc.project.id).await?;
        let (hours, minutes) = input.rotate_at.unwrap_or((0, 0));
        let mut row = RotationRow {
            id: rotation_id.clone(),
            org_id: ctx.actor.org_id.clone(),
            project_id: loc.project.id.clone(),
            env_id: loc.environment.id.clone(),
            folder_id: loc.folder.id.clone(),
            connection_id: connection.id.clone(),
            name: input.name.clone(),
            description: input.description.clone(),
            rotation_type: kind.slug.to_string(),
            parameters,
            secrets_mapping: serde_json::to_string(&serde_json::Map::from_iter(
                input
                    .secrets_mapping
                    .iter()
                    .map(|(f, k)| (f.clone(), Value::String(k.clone()))),
            ))
            .map_err(|e| Error::Unexpected(e.into()))?,
            credentials: seal_slots(&key, &rotation_id, std::slice::from_ref(&credential))?,
            active_index: 0,
            is_auto_rotation_enabled: input.is_auto_rotation_enabled,
            rotation_interval: input.rotation_interval,
            rotate_at_hours: hours,
            rotate_at_minutes: minutes,
            rotation_status: "success".to_string(),
            last_rotation_attempted_at: now,
            last_rotated_at: now,
            last_rotation_job_id: None,
            last_rotation_message: None,
            next_rotation_at: None,
            is_last_rotation_manual: true,
            failed_attempts: 0,
            lease_owner: None,
            lease_expires_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        };
        row.next_rotation_at =
            schedule(&row, false, self.settings.rotation_time_unit).next(now, true, now);
        let mut secrets = Vec::new();
        for (field, value) in credential.fields() {
            let Some((_, key_name)) = input.secrets_mapping.iter().find(|(f, _)| f == field) else {
                return Err(Error::Unexpected(anyhow::anyhow!(
                    "secrets mapping lacks {field}"
                )));
            };
            let mut secret = SecretRow {
                id: new_id(),
                project_id: loc.project.id.clone(),
                env_id: loc.environment.id.clone(),
                folder_id: loc.folder.id.clone(),
                key: key_name.clone(),
                secret_type: "shared".to_string(),
                version: 1,
                value: Vec::new(),
                comment: Vec::new(),
                skip_multiline: false,
                rotation_id: Some(rotation_id.clone()),
                created_at: now,
                updated_at: now,
                tag_ids: String::new(),
            };
            let version = seal_secret(&key, &mut secret, value, "");
            secrets.push((secret, version));
        }
        let mut metadata = input.audit_body.clone();
        metadata["rotationId"] = json!(rotation_id);
        metadata["type"] = json!(kind.slug);
        let trail = Trail {
            audit: vec![self.audit_row(
                ctx,
                Some(&loc.project.id),
                Event::new("create-secret-rotation", metadata),
            )],
            deliveries: Vec::new(),
        };
        if let Err(e) = self
            .store
            .insert_rotation(&row, &secrets, &intent.id, &trail)
            .await
        {
            // Not published: revoke the new token, then answer. (When recovery swept the
            // intent because the creation outlived a lease, the token was never published.)
            self.engine
                .queue_revocation(&rotation_id, &connection.id, &credential)
                .await?;
            self.store.delete_intent(&intent.id).await?;
            self.engine.work_revocations(Some(&rotation_id)).await;
            return Err(match e {
                StoreError::Conflict(INTENT_SETTLED) => Error::bad_request(IN_PROGRESS),
                StoreError::Conflict("rotation name") => name_taken(&input.name, &loc.folder.path),
                StoreError::Conflict(_) => secrets_exist(&loc.folder.path, &names),
                other => other.into(),
            });
        }
        let row = self
            .store
            .get_rotation(&rotation_id)
            .await?
            .ok_or_else(|| not_found(&rotation_id))?;
        self.rotation_view(row).await
    }

    /// Deletes a rotation; answers it as it was. Runs detached from the request: a client that
    /// hangs up changes nothing.
    pub async fn delete_rotation(
        self: &Arc<Self>,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
        options: DeleteOptions,
    ) -> Result<RotationView> {
        let row = self
            .authorized_rotation(ctx, kind, id, Action::Delete)
            .await?;
        let audit = self.audit_row(
            ctx,
            Some(&row.project_id),
            Event::new(
                "delete-secret-rotation",
                json!({"type": kind.slug, "rotationId": id, "deleteSecrets": options.delete_secrets, "revokeGeneratedCredentials": options.revoke_generated_credentials}),
            ),
        );
        let (app, id) = (self.clone(), id.to_string());
        detached(async move {
            let deleted = app
                .engine
                .delete(
                    &id,
                    options.delete_secrets,
                    options.revoke_generated_credentials,
                    audit,
                )
                .await?;
            app.rotation_view(deleted).await
        })
        .await
    }

    /// Manual rotation: 400 while another is in flight, 500 with upstream's text on failure.
    /// Runs detached from the request: a client that hangs up changes nothing.
    pub async fn rotate_now(
        self: &Arc<Self>,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
    ) -> Result<RotationView> {
        self.authorized_rotation(ctx, kind, id, Action::RotateSecrets)
            .await?;
        let (app, id) = (self.clone(), id.to_string());
        detached(async move {
            let trigger = Trigger {
                manual: true,
                job_id: None,
                final_attempt: true,
            };
            let row = app.engine.rotate(&id, trigger).await.map_err(|e| match e {
                RotateError::Failed(m) => Error::Internal(m),
                other => other.into(),
            })?;
            app.rotation_view(row).await
        })
        .await
    }
}

/// Runs `work` on its own task and waits for it: dropping the caller (a client hanging up)
/// does not stop the work halfway.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("rotation task ended abnormally: {e}")))?
}
