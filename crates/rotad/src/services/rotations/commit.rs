//! The engine's writes: step 4, the commit; the record of a failed attempt; the delete. Each is
//! one transaction, fenced on the lease owner and the row version, with its audit entry and webhook
//! deliveries in the same transaction (docs/ARCHITECTURE.md, "Fencing", "Trail"). The last write
//! of a rotation attempt (its commit or its failure) hands the lease back too.

use serde_json::json;

use super::attempt::{RotateError, Trigger};
use super::engine::Engine;
use super::recovery::revocation;
use super::{
    failure_message, inactive_slot, mapped_keys, not_found, open_slots, schedule, seal_slots,
    IN_PROGRESS,
};
use crate::error::{Error, Result};
use crate::providers::{Credential, ProviderError};
use crate::services::audit::{platform_audit_row, Event};
use crate::services::secrets::{seal_secret_value, seal_version};
use crate::services::webhooks::{rotation_failed_event, rotation_secrets_modified};
use crate::store::{
    AuditRow, LeasedRotation, PublishedSecret, RevocationRow, RotatedSecret, RotationCommit,
    RotationDelete, RotationFailure, RotationRow, StoreError, Trail, ROTATION_CHANGED,
};

/// How often a commit is recomputed from a fresh row when PATCHes keep changing it.
const COMMIT_ATTEMPTS: usize = 5;

/// A commit that applied.
pub(super) struct Committed {
    /// The row as committed.
    pub row: RotationRow,
    /// The queue entry of the credential the commit displaced, if any.
    pub displaced: Option<RevocationRow>,
}

impl Engine {
    /// Step 4, fenced on the row version: publishes `credential` from the rotation as read
    /// under the lease; when a PATCH changed the row meanwhile, re-reads it and commits again,
    /// as long as `owner` still holds the lease. `release` hands the lease back in the same
    /// write (the last write of an attempt). `None` when the lease was lost: the credential
    /// stays on its intent for the new holder to publish.
    pub(super) async fn commit(
        &self,
        leased: &LeasedRotation,
        owner: &str,
        intent_id: &str,
        credential: Credential,
        trigger: &Trigger,
        release: bool,
    ) -> Result<Option<Committed>> {
        let mut leased = leased.clone();
        for _ in 0..COMMIT_ATTEMPTS {
            let commit = self
                .build_commit(&leased, owner, intent_id, &credential, trigger, release)
                .await?;
            match self.store.commit_rotation(&commit).await {
                Ok(row) => {
                    return Ok(Some(Committed {
                        row,
                        displaced: commit.revocation,
                    }))
                }
                Err(StoreError::Conflict(ROTATION_CHANGED)) => {
                    match self.store.get_leased_rotation(&leased.row.id).await? {
                        Some(fresh) if fresh.row.lease_owner.as_deref() == Some(owner) => {
                            leased = fresh
                        }
                        _ => return Ok(None),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(ROTATION_CHANGED).into())
    }

    /// The commit that publishes `credential` in the inactive slot of the rotation, flips, and
    /// queues the displaced credential. Reads nothing the lease's statement did not read,
    /// except the webhooks when there are any.
    async fn build_commit(
        &self,
        leased: &LeasedRotation,
        owner: &str,
        intent_id: &str,
        credential: &Credential,
        trigger: &Trigger,
        release: bool,
    ) -> Result<RotationCommit> {
        let row = &leased.row;
        let key = self.key(&row.project_id).await?;
        let mut slots = open_slots(&key, row)?;
        let inactive = inactive_slot(&slots, row);
        let now = self.now();
        let displaced = if inactive < slots.len() {
            Some(std::mem::replace(&mut slots[inactive], credential.clone()))
        } else {
            slots.push(credential.clone());
            None
        };
        // Never queue what a slot still holds (the revocation worker's guard, checked against
        // exactly the slots this commit writes).
        let revocation = displaced
            .filter(|d| !slots.iter().any(|s| s.is(&d.id(), d.target())))
            .map(|d| RevocationRow {
                // The intent's queue entry becomes this revocation (docs/ARCHITECTURE.md,
                // "Statement budget").
                id: intent_id.to_string(),
                ..revocation(&row.id, &row.connection_id, &d.id(), d.target(), now)
            });
        let keys = mapped_keys(row)?;
        let mut secrets = Vec::new();
        for (field, value) in credential.fields() {
            let name = keys
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, k)| k.as_str())
                .ok_or_else(|| {
                    Error::Unexpected(anyhow::anyhow!("secrets mapping lacks {field}"))
                })?;
            let secret = match &leased.secret {
                Some(secret) if secret.key == name => secret.clone(),
                _ => self.published_secret(row, name).await?,
            };
            let comment = key
                .open_str(&format!("{}:comment", secret.id), &secret.comment)
                .unwrap_or_default();
            secrets.push(RotatedSecret {
                value: seal_secret_value(&key, &secret.id, value),
                version: seal_version(
                    &key,
                    &secret.id,
                    &secret.key,
                    secret.version + 1,
                    value,
                    &comment,
                    now,
                ),
                id: secret.id,
                expected_version: secret.version,
                updated_at: now,
            });
        }
        let commit = RotationCommit {
            rotation_id: row.id.clone(),
            lease_owner: owner.to_string(),
            credentials: seal_slots(&key, &row.id, &slots)?,
            active_index: inactive as i64,
            rotated_at: now,
            next_rotation_at: schedule(row, false, self.settings.rotation_time_unit).next(
                now,
                trigger.manual,
                now,
            ),
            is_manual: trigger.manual,
            job_id: trigger.job_id.clone(),
            secrets,
            revocation,
            intent_id: intent_id.to_string(),
            expected_version: row.version,
            release_lease: release,
            // The success is audited and announced in the commit's own transaction.
            trail: Trail {
                audit: vec![self.rotation_audit_row(row, trigger, "success", None)],
                deliveries: if leased.has_webhooks {
                    rotation_secrets_modified(self.store.as_ref(), row).await
                } else {
                    Vec::new()
                },
            },
        };
        Ok(commit)
    }

    /// A secret `row` publishes, found by its mapped name `name` (for a rotation publishing
    /// more than one, or a secret that does not carry the rotation's id).
    async fn published_secret(&self, row: &RotationRow, name: &str) -> Result<PublishedSecret> {
        let secret = self
            .store
            .get_secret(&row.folder_id, name, "shared")
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("published secret missing")))?;
        Ok(PublishedSecret {
            id: secret.id,
            key: secret.key,
            version: secret.version,
            comment: secret.comment,
        })
    }

    /// Records a failed attempt (published credential untouched) and builds the error.
    pub(super) async fn fail(
        &self,
        leased: &LeasedRotation,
        owner: &str,
        trigger: &Trigger,
        error: &ProviderError,
    ) -> RotateError {
        let row = &leased.row;
        let message = failure_message(&error.message);
        let now = self.now();
        let sealed = match self.key(&row.project_id).await {
            Ok(key) => key.seal_str(&format!("{}:message", row.id), &message),
            Err(e) => return RotateError::Other(e),
        };
        let schedule = schedule(row, trigger.final_attempt, self.settings.rotation_time_unit);
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
                deliveries: if (trigger.manual || row.failed_attempts == 0) && leased.has_webhooks {
                    rotation_failed_event(
                        self.store.as_ref(),
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
        // The record hands the lease back.
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
                "type": row.rotation_type,
                "rotationId": row.id,
                "connectionId": row.connection_id,
                "folderId": row.folder_id,
                "parameters": serde_json::from_str::<serde_json::Value>(&row.parameters).unwrap_or_default(),
                "secretsMapping": serde_json::from_str::<serde_json::Value>(&row.secrets_mapping).unwrap_or_default(),
                "status": status,
                "occurredAt": crate::time::rfc3339(self.now()),
                "message": message,
                "jobId": trigger.job_id,
                "triggeredManually": trigger.manual,
            }),
        );
        platform_audit_row(&row.org_id, Some(&row.project_id), event)
    }

    /// Deletes a rotation under a lease of its own: reads the row under the lease, deletes
    /// exactly that version and queues its slot tokens (with `revoke`) in one transaction with
    /// `audit`, then works the queue before returning the deleted row. No state exists where
    /// the rotation stands and its published token is revoked. 400 while another executor
    /// holds the rotation.
    pub async fn delete(
        &self,
        id: &str,
        delete_secrets: bool,
        revoke: bool,
        audit: AuditRow,
    ) -> Result<RotationRow> {
        let owner = self.lease_owner();
        let now = self.now();
        if !self
            .store
            .acquire_lease(id, &owner, now, now + self.settings.lease_ms)
            .await?
        {
            return Err(Error::bad_request(IN_PROGRESS));
        }
        let outcome = self
            .holding_lease(
                id,
                &owner,
                self.delete_leased(id, &owner, delete_secrets, revoke, audit),
            )
            .await;
        match outcome {
            Ok(row) => {
                // Revoked before the answer, as upstream does; a failure stays queued.
                self.work_revocations(Some(id)).await;
                Ok(row)
            }
            Err(e) => {
                self.store.release_lease(id, &owner).await?;
                Err(e)
            }
        }
    }

    async fn delete_leased(
        &self,
        id: &str,
        owner: &str,
        delete_secrets: bool,
        revoke: bool,
        audit: AuditRow,
    ) -> Result<RotationRow> {
        for _ in 0..COMMIT_ATTEMPTS {
            let row = self
                .store
                .get_rotation(id)
                .await?
                .ok_or_else(|| not_found(id))?;
            let revocations = if revoke {
                let key = self.key(&row.project_id).await?;
                let now = self.now();
                open_slots(&key, &row)?
                    .iter()
                    .map(|c| revocation(&row.id, &row.connection_id, &c.id(), c.target(), now))
                    .collect()
            } else {
                Vec::new()
            };
            let delete = RotationDelete {
                rotation_id: row.id.clone(),
                lease_owner: owner.to_string(),
                expected_version: row.version,
                delete_secrets,
                revocations,
                trail: Trail {
                    audit: vec![audit.clone()],
                    deliveries: Vec::new(),
                },
            };
            match self.store.delete_rotation(&delete).await {
                Ok(()) => return Ok(row),
                // A PATCH landed since the read: read again.
                Err(StoreError::Conflict(ROTATION_CHANGED)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unexpected(anyhow::anyhow!(
            "rotation {id} kept changing during a delete"
        )))
    }
}
