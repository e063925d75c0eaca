//! The rotation engine: lease, intent, issue, commit, revoke, recover (DESIGN.md).
//!
//! A new credential is issued before anything is revoked, stored (sealed) against its intent
//! the moment it exists, and published in one transaction that also queues the displaced
//! credential for revocation. A crash at any step leaves an intent that recovery either
//! resumes (credential stored) or sweeps (orphans found at the provider are revoked).

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
            kind: crate::providers::FailureKind::Other,
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
        self.rotate_claimed(rotation_id, &owner, trigger).await
    }

    /// Rotates once under a lease `owner` already holds (the scheduler's claim, or
    /// [`App::rotate`]'s), then releases it.
    pub async fn rotate_claimed(
        &self,
        rotation_id: &str,
        owner: &str,
        trigger: Trigger,
    ) -> std::result::Result<RotationRow, RotateError> {
        pause_point("lease").await;
        let started = std::time::Instant::now();
        let outcome = self
            .holding_lease(
                rotation_id,
                owner,
                self.rotate_leased(rotation_id, owner, &trigger),
            )
            .await;
        crate::metrics::global().rotation(outcome.is_ok(), started.elapsed());
        if let Err(e) = self.store.release_lease(rotation_id, owner).await {
            tracing::warn!(rotation_id, error = %e, "could not release rotation lease; it will expire");
        }
        // Displaced tokens (after a success) and swept orphans (after an ambiguous failure)
        // are revoked now, not at some later pass.
        self.work_revocations(Some(rotation_id)).await;
        outcome
    }

    /// Runs `work` while renewing the rotation's lease every third of its length, so a slow
    /// provider never lets the lease lapse under a live executor (another executor would
    /// then mint a second token). A lost lease is only logged: the commit checks the owner.
    async fn holding_lease<T>(
        &self,
        rotation_id: &str,
        owner: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let period = std::time::Duration::from_millis((self.settings.lease_ms / 3).max(50) as u64);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tokio::time::sleep(period) => {
                    let now = now_ms();
                    match self
                        .store
                        .renew_lease(rotation_id, owner, now + self.settings.lease_ms)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(rotation_id, "rotation lease lost to another executor"),
                        Err(e) => tracing::warn!(rotation_id, error = %e, "cannot renew the rotation lease"),
                    }
                }
            }
        }
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
            Err(e) => return Err(self.fail(&row, owner, trigger, &e).await),
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
                    // The token may exist: find and revoke it now rather than lose track of
                    // it. The intent stays, so recovery sweeps once more when no late create
                    // can still land.
                    if let Err(sweep) = self.sweep_intent(&provider, &intent).await {
                        tracing::warn!(rotation_id, error = %sweep, "sweep after an ambiguous create failed; recovery will retry");
                    }
                } else {
                    self.store
                        .delete_intent(&intent.id)
                        .await
                        .map_err(Error::from)?;
                }
                return Err(self.fail(&row, owner, trigger, &e).await);
            }
        };
        pause_point("issued").await;
        let key = self.rotation_key(&row.project_id).await?;
        let sealed = key.seal_str(
            &format!("{}:credential", intent.id),
            &serde_json::to_string(&credential).map_err(|e| Error::Unexpected(e.into()))?,
        );
        if !self
            .store
            .set_intent_credential(&intent.id, &sealed)
            .await
            .map_err(Error::from)?
        {
            // This executor lost its lease and recovery settled the intent meanwhile: the new
            // token belongs to nobody, so it goes (I4), and the rotation is someone else's now.
            tracing::warn!(
                rotation_id,
                "rotation taken over during issuance; revoking the token it issued"
            );
            self.queue_revocation(&row.id, &row.connection_id, credential.token_id)
                .await?;
            return Err(RotateError::InProgress);
        }
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
    pub(super) async fn commit(
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
        self.secrets_modified(&row.project_id, &row.env_id, &row.folder_id)
            .await;
        Ok(())
    }

    /// Records a failed attempt (published credential untouched) and builds the error.
    async fn fail(
        &self,
        row: &RotationRow,
        owner: &str,
        trigger: &Trigger,
        error: &ProviderError,
    ) -> RotateError {
        let message = failure_message(&error.message);
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
                // The scheduler's next attempt of this episode, with backoff and jitter.
                Some(
                    now + super::schedule::retry_delay_ms(
                        row.failed_attempts + 1,
                        self.settings.scheduler_poll_ms,
                    ),
                )
            },
            // A failed episode ends here; the next one gets its full attempts.
            failed_attempts: if trigger.final_attempt {
                0
            } else {
                row.failed_attempts + 1
            },
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
        // One alert per failure episode, as soon as it starts: every manual failure, and the
        // first failed attempt of a scheduled episode (whether its retries succeed or not).
        if trigger.manual || row.failed_attempts == 0 {
            self.rotation_failed_event(row, trigger.manual, &error.kind.alert_text(&error.message))
                .await;
        }
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
}

impl From<StoreError> for RotateError {
    fn from(e: StoreError) -> Self {
        RotateError::Other(e.into())
    }
}
