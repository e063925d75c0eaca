//! The rotation engine: lease, intent, issue, commit, revoke, recover (DESIGN.md).
//!
//! A new credential is issued before anything is revoked, stored (sealed) against its intent
//! the moment it exists, and published in one transaction that also queues the displaced
//! credential for revocation. A crash at any step leaves an intent that recovery either
//! resumes (credential stored) or sweeps (orphans found at the provider are revoked).

use std::collections::HashSet;

use serde_json::json;

use super::{failure_message, not_found, App, DBT_TYPE, IN_PROGRESS};
use crate::error::{Error, Result};
use crate::providers::dbt::{DbtParameters, DbtProvider};
use crate::providers::{Credential, ProviderError, RotationProvider};
use crate::services::audit::Event;
use crate::services::new_id;
use crate::store::{
    IntentRow, RevocationRow, RotationCommit, RotationFailure, RotationRow, SecretWrite, StoreError,
};
use crate::time::now_ms;

/// Test hook: a process started with `ROTAD_TEST_PAUSE_AT=<step>` stops at that engine step
/// (and says so on stderr) so a test can kill it there. Steps: `lease`, `intent`, `issued`,
/// `persisted`, `committed`.
async fn pause_point(step: &str) {
    if std::env::var("ROTAD_TEST_PAUSE_AT").is_ok_and(|v| v == step) {
        eprintln!("rotad: paused at {step}");
        std::future::pending::<()>().await;
    }
}
/// Orphan sweeps look this far before an intent's start, for clock skew.
const SWEEP_SKEW_MS: i64 = 5 * 60_000;

/// Who asked for a rotation.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub manual: bool,
    pub job_id: Option<String>,
    /// Whether a failure ends the episode (manual rotations always do).
    pub final_attempt: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{}", IN_PROGRESS)]
    InProgress,
    /// The attempt failed; the message is upstream's failure text. Nothing published changed.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<RotateError> for Error {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::InProgress => Error::bad_request(IN_PROGRESS),
            RotateError::Failed(m) => Error::Internal(m),
            RotateError::Other(e) => e,
        }
    }
}

impl App {
    pub(crate) fn lease_owner(&self) -> String {
        format!("rotad-{}", new_id())
    }

    /// A provider for the rotation's connection.
    pub(crate) async fn provider_for(
        &self,
        connection_id: &str,
        parameters: &DbtParameters,
    ) -> std::result::Result<DbtProvider, ProviderError> {
        let fail = |message: String| ProviderError {
            message,
            ambiguous: false,
        };
        let connection = self
            .store
            .get_connection(connection_id)
            .await
            .map_err(|e| fail(format!("Could not load the app connection: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "Could not find App Connection with ID {connection_id}"
                ))
            })?;
        let connection = self
            .open_row(connection)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let client = self
            .dbt_client_for(&connection)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(DbtProvider::new(client, parameters))
    }

    /// Rotates once: the same call for the API, the scheduler and recovery.
    pub async fn rotate(
        &self,
        rotation_id: &str,
        trigger: Trigger,
    ) -> std::result::Result<RotationRow, RotateError> {
        let owner = self.lease_owner();
        let now = now_ms();
        if !self
            .store
            .acquire_lease(rotation_id, &owner, now, now + self.settings.lease_ms)
            .await
            .map_err(Error::from)?
        {
            return Err(
                match self
                    .store
                    .get_rotation(rotation_id)
                    .await
                    .map_err(Error::from)?
                {
                    Some(_) => RotateError::InProgress,
                    None => RotateError::Other(not_found(rotation_id)),
                },
            );
        }
        pause_point("lease").await;
        let outcome = self.rotate_leased(rotation_id, &owner, &trigger).await;
        if let Err(e) = self.store.release_lease(rotation_id, &owner).await {
            tracing::warn!(rotation_id, error = %e, "could not release rotation lease; it will expire");
        }
        // Displaced tokens (after a success) and swept orphans (after an ambiguous failure)
        // are revoked now, not at some later pass.
        self.work_revocations(Some(rotation_id)).await;
        outcome
    }

    async fn rotate_leased(
        &self,
        rotation_id: &str,
        owner: &str,
        trigger: &Trigger,
    ) -> std::result::Result<RotationRow, RotateError> {
        let row = self
            .store
            .get_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?;
        let parameters: DbtParameters =
            serde_json::from_str(&row.parameters).map_err(|e| Error::Unexpected(e.into()))?;
        let provider = match self.provider_for(&row.connection_id, &parameters).await {
            Ok(p) => p,
            Err(e) => return Err(self.fail(&row, owner, trigger, &e.message).await),
        };
        let started = now_ms();
        let intent = IntentRow {
            id: new_id(),
            rotation_id: row.id.clone(),
            project_id: row.project_id.clone(),
            connection_id: row.connection_id.clone(),
            token_name: parameters.token_name.clone(),
            started_at: started,
            credential: None,
            created_at: started,
        };
        self.store
            .insert_intent(&intent)
            .await
            .map_err(Error::from)?;
        pause_point("intent").await;
        let credential = match provider.issue(&parameters.token_name).await {
            Ok(c) => c,
            Err(e) => {
                if e.ambiguous {
                    // The token may exist: find and revoke it now rather than lose track of it.
                    if let Err(sweep) = self.sweep_intent(&provider, &intent).await {
                        tracing::warn!(rotation_id, error = %sweep, "sweep after an ambiguous create failed; recovery will retry");
                        return Err(self.fail(&row, owner, trigger, &e.message).await);
                    }
                }
                self.store
                    .delete_intent(&intent.id)
                    .await
                    .map_err(Error::from)?;
                return Err(self.fail(&row, owner, trigger, &e.message).await);
            }
        };
        pause_point("issued").await;
        let key = self.rotation_key(&row.project_id).await?;
        let sealed = key.seal_str(
            &format!("{}:credential", intent.id),
            &serde_json::to_string(&credential).map_err(|e| Error::Unexpected(e.into()))?,
        );
        self.store
            .set_intent_credential(&intent.id, &sealed)
            .await
            .map_err(Error::from)?;
        pause_point("persisted").await;
        self.commit(&row, owner, &intent.id, credential, trigger)
            .await?;
        pause_point("committed").await;
        let updated = self
            .store
            .get_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?;
        self.audit_rotation(&updated, trigger, "success", None)
            .await;
        Ok(updated)
    }

    /// Step 4: publish `credential` in the inactive slot, flip, queue the displaced one.
    async fn commit(
        &self,
        row: &RotationRow,
        owner: &str,
        intent_id: &str,
        credential: Credential,
        trigger: &Trigger,
    ) -> Result<()> {
        let key = self.rotation_key(&row.project_id).await?;
        let mut slots = self.open_slots(&key, row)?;
        let inactive = if slots.len() < 2 {
            slots.len()
        } else {
            (1 - row.active_index.clamp(0, 1)) as usize
        };
        let now = now_ms();
        let displaced = if inactive < slots.len() {
            Some(std::mem::replace(&mut slots[inactive], credential.clone()))
        } else {
            slots.push(credential.clone());
            None
        };
        let mapping: super::SecretsMapping =
            serde_json::from_str(&row.secrets_mapping).map_err(|e| Error::Unexpected(e.into()))?;
        let secret = self
            .store
            .get_secret(&row.folder_id, &mapping.service_token, "shared")
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("published secret missing")))?;
        let mut next = secret.clone();
        next.version = secret.version + 1;
        next.updated_at = now;
        let comment = key
            .open_str(&format!("{}:comment", secret.id), &secret.comment)
            .unwrap_or_default();
        let version = self.seal_secret(&key, &mut next, &credential.service_token, &comment);
        let commit = RotationCommit {
            rotation_id: row.id.clone(),
            lease_owner: owner.to_string(),
            credentials: self.seal_slots(&key, &row.id, &slots)?,
            active_index: inactive as i64,
            rotated_at: now,
            next_rotation_at: self.schedule_of(row, false).next(now, trigger.manual, now),
            is_manual: trigger.manual,
            job_id: trigger.job_id.clone(),
            secret: SecretWrite {
                secret: next,
                expected_version: secret.version,
                version,
            },
            revocation: displaced
                .filter(|d| d.token_id != credential.token_id)
                .map(|d| RevocationRow {
                    id: new_id(),
                    rotation_id: row.id.clone(),
                    connection_id: row.connection_id.clone(),
                    credential_id: d.token_id.to_string(),
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                    created_at: now,
                }),
            intent_id: intent_id.to_string(),
        };
        self.store.commit_rotation(&commit).await?;
        Ok(())
    }

    /// Records a failed attempt (published credential untouched) and builds the error.
    async fn fail(
        &self,
        row: &RotationRow,
        owner: &str,
        trigger: &Trigger,
        inner: &str,
    ) -> RotateError {
        let message = failure_message(inner);
        let now = now_ms();
        let sealed = match self.rotation_key(&row.project_id).await {
            Ok(key) => key.seal_str(&format!("{}:message", row.id), &message),
            Err(e) => return RotateError::Other(e),
        };
        let schedule = self.schedule_of(row, trigger.final_attempt);
        let failure = RotationFailure {
            rotation_id: row.id.clone(),
            lease_owner: owner.to_string(),
            final_attempt: trigger.final_attempt,
            message: sealed,
            attempted_at: now,
            next_rotation_at: if trigger.final_attempt {
                schedule.next(row.last_rotated_at, false, now)
            } else {
                row.next_rotation_at
            },
            failed_attempts: row.failed_attempts + 1,
            job_id: trigger.job_id.clone(),
        };
        if let Err(e) = self.store.record_rotation_failure(&failure).await {
            return RotateError::Other(e.into());
        }
        let status_message = if trigger.final_attempt {
            "See Rotation status for details"
        } else {
            "Rotation will be re-attempted shortly..."
        };
        self.audit_rotation(row, trigger, "failed", Some(status_message))
            .await;
        RotateError::Failed(message)
    }

    async fn audit_rotation(
        &self,
        row: &RotationRow,
        trigger: &Trigger,
        status: &str,
        message: Option<&str>,
    ) {
        let event = Event::new(
            "secret-rotation-rotate-secrets",
            json!({
                "type": DBT_TYPE,
                "rotationId": row.id,
                "connectionId": row.connection_id,
                "folderId": row.folder_id,
                "parameters": serde_json::from_str::<serde_json::Value>(&row.parameters).unwrap_or_default(),
                "secretsMapping": serde_json::from_str::<serde_json::Value>(&row.secrets_mapping).unwrap_or_default(),
                "status": status,
                "occurredAt": crate::time::rfc3339(now_ms()),
                "message": message,
                "jobId": trigger.job_id,
                "triggeredManually": trigger.manual,
            }),
        );
        self.audit_platform(&row.org_id, Some(&row.project_id), event)
            .await;
    }

    /// Every credential id held in a slot by a rotation on `connection_id`.
    async fn known_ids(&self, connection_id: &str) -> Result<HashSet<i64>> {
        let mut known = HashSet::new();
        for r in self
            .store
            .list_rotations_by_connection(connection_id)
            .await?
        {
            let key = self.rotation_key(&r.project_id).await?;
            known.extend(self.open_slots(&key, &r)?.into_iter().map(|c| c.token_id));
        }
        Ok(known)
    }

    /// Queues every live credential an intent may have created and no slot holds.
    pub(crate) async fn sweep_intent(
        &self,
        provider: &dyn RotationProvider,
        intent: &IntentRow,
    ) -> Result<usize> {
        let known = self.known_ids(&intent.connection_id).await?;
        let orphans = provider
            .find_orphans(
                &intent.token_name,
                intent.started_at - SWEEP_SKEW_MS,
                &known,
            )
            .await
            .map_err(|e| Error::Internal(e.message))?;
        let now = now_ms();
        let rows: Vec<RevocationRow> = orphans
            .iter()
            .map(|id| RevocationRow {
                id: new_id(),
                rotation_id: intent.rotation_id.clone(),
                connection_id: intent.connection_id.clone(),
                credential_id: id.to_string(),
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
            })
            .collect();
        self.store.enqueue_revocations(&rows).await?;
        Ok(rows.len())
    }

    /// Recovery: resumes or sweeps every intent left by a crash. Returns how many it settled.
    pub async fn recover(&self) -> Result<usize> {
        let mut settled = 0;
        for intent in self.store.list_intents().await? {
            match self.recover_intent(&intent).await {
                Ok(true) => settled += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(intent = %intent.id, error = %e, "could not recover rotation intent; will retry")
                }
            }
        }
        self.work_revocations(None).await;
        Ok(settled)
    }

    async fn recover_intent(&self, intent: &IntentRow) -> Result<bool> {
        let owner = self.lease_owner();
        let now = now_ms();
        let rotation = self.store.get_rotation(&intent.rotation_id).await?;
        if rotation.is_some()
            && !self
                .store
                .acquire_lease(
                    &intent.rotation_id,
                    &owner,
                    now,
                    now + self.settings.lease_ms,
                )
                .await?
        {
            return Ok(false); // In flight on a live executor.
        }
        if rotation.is_none() && now - intent.created_at < self.settings.lease_ms {
            return Ok(false); // A creation may still be in flight.
        }
        let result = self.settle_intent(intent, rotation.as_ref(), &owner).await;
        if rotation.is_some() {
            self.store
                .release_lease(&intent.rotation_id, &owner)
                .await?;
        }
        result.map(|_| true)
    }

    async fn settle_intent(
        &self,
        intent: &IntentRow,
        rotation: Option<&RotationRow>,
        owner: &str,
    ) -> Result<()> {
        let key = self.rotation_key(&intent.project_id).await?;
        let credential: Option<Credential> = match &intent.credential {
            Some(sealed) => Some(
                serde_json::from_str(&key.open_str(&format!("{}:credential", intent.id), sealed)?)
                    .map_err(|e| Error::Unexpected(e.into()))?,
            ),
            None => None,
        };
        match (rotation, credential) {
            (Some(row), Some(credential)) => {
                let held = self
                    .open_slots(&key, row)?
                    .iter()
                    .any(|c| c.token_id == credential.token_id);
                if held {
                    self.store.delete_intent(&intent.id).await?;
                } else {
                    let trigger = Trigger {
                        manual: row.is_last_rotation_manual,
                        job_id: Some(format!("recovery-{}", intent.id)),
                        final_attempt: true,
                    };
                    self.commit(row, owner, &intent.id, credential, &trigger)
                        .await?;
                    tracing::info!(rotation_id = %row.id, "recovery published a credential issued before a crash");
                }
            }
            (_, credential) => {
                let parameters = DbtParameters {
                    token_name: intent.token_name.clone(),
                    permission_grants: Vec::new(),
                };
                let provider = self
                    .provider_for(&intent.connection_id, &parameters)
                    .await
                    .map_err(|e| Error::Internal(e.message))?;
                let mut swept = self.sweep_intent(&provider, intent).await?;
                if let (None, Some(c)) = (rotation, credential) {
                    // A creation that never committed: its credential belongs to nobody.
                    let now = now_ms();
                    self.store
                        .enqueue_revocations(&[RevocationRow {
                            id: new_id(),
                            rotation_id: intent.rotation_id.clone(),
                            connection_id: intent.connection_id.clone(),
                            credential_id: c.token_id.to_string(),
                            attempts: 0,
                            next_attempt_at: now,
                            last_error: None,
                            created_at: now,
                        }])
                        .await?;
                    swept += 1;
                }
                self.store.delete_intent(&intent.id).await?;
                tracing::info!(intent = %intent.id, swept, "recovery swept an unfinished issuance");
            }
        }
        Ok(())
    }

    /// Works the revocation queue (of one rotation, or everything due). Failures stay queued
    /// with a growing delay; nothing is dropped.
    pub async fn work_revocations(&self, rotation_id: Option<&str>) {
        let rows = match rotation_id {
            Some(id) => self.store.revocations_of(id).await,
            None => self.store.due_revocations(now_ms(), 100).await,
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the revocation queue");
                return;
            }
        };
        let empty = DbtParameters {
            token_name: String::new(),
            permission_grants: Vec::new(),
        };
        for row in rows {
            let outcome = match (
                self.provider_for(&row.connection_id, &empty).await,
                row.credential_id.parse::<i64>(),
            ) {
                (Ok(provider), Ok(id)) => provider.revoke(id).await.map_err(|e| e.message),
                (Err(e), _) => Err(e.message),
                (_, Err(_)) => Err("unreadable credential id".to_string()),
            };
            let stored = match outcome {
                Ok(()) => self.store.delete_revocation(&row.id).await,
                Err(message) => {
                    let delay = 1000 * 2i64.saturating_pow(row.attempts.clamp(0, 8) as u32);
                    tracing::warn!(revocation = %row.id, attempts = row.attempts + 1, "revocation failed; will retry");
                    self.store
                        .defer_revocation(&row.id, now_ms() + delay.min(300_000), &message)
                        .await
                }
            };
            if let Err(e) = stored {
                tracing::warn!(revocation = %row.id, error = %e, "could not update the revocation queue");
            }
        }
    }
}

impl From<StoreError> for RotateError {
    fn from(e: StoreError) -> Self {
        RotateError::Other(e.into())
    }
}
