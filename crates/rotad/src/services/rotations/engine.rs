//! The rotation engine: lease, intent, issue, commit, revoke, recover (docs/ARCHITECTURE.md).
//!
//! A new credential is issued before anything is revoked, stored (sealed) against its intent
//! the moment it exists, and published in one transaction that also queues the displaced
//! credential for revocation. A crash at any step leaves an intent that recovery either
//! resumes (credential stored) or sweeps (orphans found at the provider are revoked).

use serde_json::json;

use super::{failure_message, not_found, App, DBT_TYPE, IN_PROGRESS};
use crate::error::{Error, Result};
use crate::providers::dbt::{DbtParameters, DbtProvider, MAX_TOKEN_NAME};
use crate::providers::{intent_name, Credential, ProviderError, RotationProvider};
use crate::services::audit::Event;
use crate::services::new_id;
use crate::store::{
    AuditRow, IntentRow, RevocationRow, RotationCommit, RotationFailure, RotationRow, SecretWrite,
    StoreError, Trail, ROTATION_CHANGED,
};

/// How often a commit is recomputed from a fresh row when PATCHes keep changing it.
const COMMIT_ATTEMPTS: usize = 5;
use crate::time::now_ms;

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

/// Why an issuance produced no stored credential.
#[derive(Debug)]
pub(super) enum IssueFailure {
    /// The provider failed; an ambiguous failure (the credential may exist) is swept already.
    Provider(ProviderError),
    /// The intent was swept while the provider worked (this executor lost its lease, or a
    /// creation outlived it): the credential it got is queued for revocation.
    Settled,
    Other(Error),
}

impl From<Error> for IssueFailure {
    fn from(e: Error) -> Self {
        IssueFailure::Other(e)
    }
}

impl From<StoreError> for IssueFailure {
    fn from(e: StoreError) -> Self {
        IssueFailure::Other(e.into())
    }
}

impl App {
    /// A lease owner of its own: one per task, never shared (docs/ARCHITECTURE.md, "Fencing").
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

    /// A new intent for `rotation_id`; its credential will be named for it.
    pub(super) fn new_intent(
        &self,
        rotation_id: &str,
        project_id: &str,
        connection_id: &str,
        token_name: &str,
    ) -> IntentRow {
        let id = new_id();
        let now = now_ms();
        IntentRow {
            token_name: intent_name(token_name, &id, MAX_TOKEN_NAME),
            id,
            rotation_id: rotation_id.to_string(),
            project_id: project_id.to_string(),
            connection_id: connection_id.to_string(),
            started_at: now,
            credential: None,
            created_at: now,
            swept_at: None,
        }
    }

    /// Intent → issue → persist: the one way a credential is minted, for creation and
    /// rotation alike. The intent is written before the provider is called and the credential
    /// sealed onto it the moment it exists, so a crash at any point leaves something recovery
    /// can resume or sweep (I4).
    pub(super) async fn issue_tracked(
        &self,
        provider: &DbtProvider,
        intent: &IntentRow,
    ) -> std::result::Result<Credential, IssueFailure> {
        self.store.insert_intent(intent).await?;
        self.pauses.at("intent").await;
        let credential = match provider.issue(&intent.token_name).await {
            Ok(c) => c,
            Err(e) => {
                if e.ambiguous {
                    // The credential may exist: sweep now (the intent's own name only) and
                    // keep the intent for a final sweep once no late create can land.
                    if let Err(sweep) = self.sweep_intent(provider, intent).await {
                        tracing::warn!(intent = %intent.id, error = %sweep, "sweep after an ambiguous create failed; recovery will retry");
                    }
                } else {
                    self.store.delete_intent(&intent.id).await?;
                }
                return Err(IssueFailure::Provider(e));
            }
        };
        self.pauses.at("issued").await;
        let key = self.rotation_key(&intent.project_id).await?;
        let sealed = key.seal_str(
            &format!("{}:credential", intent.id),
            &serde_json::to_string(&credential).map_err(|e| Error::Unexpected(e.into()))?,
        );
        if !self
            .store
            .set_intent_credential(&intent.id, &sealed)
            .await?
        {
            // Recovery swept the intent meanwhile: the new credential belongs to nobody (I4).
            tracing::warn!(intent = %intent.id, "issuance settled elsewhere; revoking the credential it got");
            self.queue_revocation(
                &intent.rotation_id,
                &intent.connection_id,
                credential.token_id,
            )
            .await?;
            return Err(IssueFailure::Settled);
        }
        self.pauses.at("persisted").await;
        Ok(credential)
    }

    /// Rotates once under a fresh lease: the API's call. 400 while another executor holds it.
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
    /// [`App::rotate`]'s), then releases it. Everything done under the lease, settling what an
    /// earlier executor left included, runs while the lease is renewed.
    pub async fn rotate_claimed(
        &self,
        rotation_id: &str,
        owner: &str,
        trigger: Trigger,
    ) -> std::result::Result<RotationRow, RotateError> {
        self.pauses.at("lease").await;
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
    /// then mint a second token). A lost lease is only logged: every write checks the owner.
    pub(super) async fn holding_lease<T>(
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
        // Read under the lease: nothing read before it can be trusted.
        let row = self
            .store
            .get_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?;
        // What an earlier executor left is settled first. A scheduled rotation whose
        // interrupted attempt gets published by that is done: that was the due rotation.
        if self.settle_leftovers(&row, owner).await? && !trigger.manual {
            return Ok(self
                .store
                .get_rotation(rotation_id)
                .await
                .map_err(Error::from)?
                .ok_or_else(|| not_found(rotation_id))?);
        }
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
        let intent = self.new_intent(
            &row.id,
            &row.project_id,
            &row.connection_id,
            &parameters.token_name,
        );
        let credential = match self.issue_tracked(&provider, &intent).await {
            Ok(c) => c,
            Err(IssueFailure::Provider(e)) => {
                return Err(self.fail(&row, owner, trigger, &e).await)
            }
            Err(IssueFailure::Settled) => return Err(RotateError::InProgress),
            Err(IssueFailure::Other(e)) => return Err(e.into()),
        };
        self.commit(&row, owner, &intent.id, credential, trigger)
            .await?;
        self.pauses.at("committed").await;
        let updated = self
            .store
            .get_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?;
        Ok(updated)
    }

    /// Step 4, fenced on the row version: publishes `credential` from the row as read under
    /// the lease; when a PATCH changed the row meanwhile, re-reads it and commits again, as
    /// long as `owner` still holds the lease (otherwise the credential stays on its intent for
    /// the new holder to publish).
    pub(super) async fn commit(
        &self,
        row: &RotationRow,
        owner: &str,
        intent_id: &str,
        credential: Credential,
        trigger: &Trigger,
    ) -> Result<()> {
        let mut row = row.clone();
        for _ in 0..COMMIT_ATTEMPTS {
            let commit = self
                .build_commit(&row, owner, intent_id, &credential, trigger)
                .await?;
            match self.store.commit_rotation(&commit).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict(ROTATION_CHANGED)) => {
                    match self.store.get_rotation(&row.id).await? {
                        Some(fresh) if fresh.lease_owner.as_deref() == Some(owner) => row = fresh,
                        _ => break,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(ROTATION_CHANGED).into())
    }

    /// The commit that publishes `credential` in the inactive slot of `row`, flips, and
    /// queues the displaced credential.
    async fn build_commit(
        &self,
        row: &RotationRow,
        owner: &str,
        intent_id: &str,
        credential: &Credential,
        trigger: &Trigger,
    ) -> Result<RotationCommit> {
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
            expected_version: row.version,
            // The success is audited and announced in the commit's own transaction.
            trail: Trail {
                audit: vec![self.rotation_audit_row(row, trigger, "success", None)],
                deliveries: self
                    .secrets_modified(&row.project_id, &row.env_id, &row.folder_id)
                    .await,
            },
        };
        Ok(commit)
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
        let status_message = if trigger.final_attempt {
            "See Rotation status for details"
        } else {
            "Rotation will be re-attempted shortly..."
        };
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
            trail: Trail {
                audit: vec![self.rotation_audit_row(row, trigger, "failed", Some(status_message))],
                // One alert per failure episode, as soon as it starts: every manual failure,
                // and the first failed attempt of a scheduled episode.
                deliveries: if trigger.manual || row.failed_attempts == 0 {
                    self.rotation_failed_event(
                        row,
                        trigger.manual,
                        &error.kind.alert_text(&error.message),
                    )
                    .await
                } else {
                    Vec::new()
                },
            },
        };
        match self.store.record_rotation_failure(&failure).await {
            Ok(()) => {}
            // The lease went elsewhere meanwhile: the attempt failed, the new holder records.
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(rotation_id = %row.id, "rotation lease lost before its failure was recorded")
            }
            Err(e) => return RotateError::Other(e.into()),
        }
        RotateError::Failed(message)
    }

    /// The audit entry of one rotation attempt (for the commit's or the failure's trail).
    fn rotation_audit_row(
        &self,
        row: &RotationRow,
        trigger: &Trigger,
        status: &str,
        message: Option<&str>,
    ) -> AuditRow {
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
        self.platform_audit_row(&row.org_id, Some(&row.project_id), event)
    }
}

impl From<StoreError> for RotateError {
    fn from(e: StoreError) -> Self {
        RotateError::Other(e.into())
    }
}
