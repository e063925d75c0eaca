//! Recovery: what a crash or a lost answer leaves behind is resumed or swept (DESIGN.md,
//! step 6), and the revocation queue is worked until dbt confirms (step 5).

use std::collections::HashSet;

use super::engine::Trigger;
use super::App;
use crate::error::{Error, Result};
use crate::providers::dbt::DbtParameters;
use crate::providers::{Credential, RotationProvider};
use crate::services::new_id;
use crate::store::{IntentRow, RevocationRow, RotationRow};
use crate::time::now_ms;

/// Orphan sweeps look this far before an intent's start, for clock skew.
const SWEEP_SKEW_MS: i64 = 5 * 60_000;

impl App {
    /// Settles what an earlier executor of a claimed rotation left (an intent whose lease
    /// expired): a persisted credential is published, anything else swept. Returns whether a
    /// credential was published.
    pub async fn resume_claimed(&self, row: &RotationRow, owner: &str) -> Result<bool> {
        let mut published = false;
        for intent in self.store.intents_of(&row.id).await? {
            if self.create_may_land(&intent) {
                continue; // Swept later, by recovery, once no create can still arrive.
            }
            published |= intent.credential.is_some();
            let current = self.store.get_rotation(&row.id).await?;
            self.settle_intent(&intent, current.as_ref(), owner).await?;
        }
        Ok(published)
    }

    /// Whether an intent without a credential is too young to sweep for good: its create
    /// may have timed out at our end and still land at dbt. Past twice the request timeout
    /// (plus a margin) no create of it can arrive any more, and the final sweep finds it.
    pub(crate) fn create_may_land(&self, intent: &IntentRow) -> bool {
        let window = i64::try_from(self.settings.dbt_request_timeout.as_millis())
            .unwrap_or(15_000)
            .saturating_mul(2)
            .saturating_add(5_000);
        intent.credential.is_none() && now_ms() - intent.started_at < window
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
        if self.create_may_land(intent) {
            return Ok(false);
        }
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
                    self.queue_revocation(&intent.rotation_id, &intent.connection_id, c.token_id)
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
            if self.held_in_a_slot(&row).await {
                // Never revoke what a slot holds (I1, I2): this entry lost a race it should
                // not have entered, and the token is accounted for by its slot (I4).
                tracing::warn!(revocation = %row.id, rotation_id = %row.rotation_id, "queued credential is held by a slot; not revoking it");
                if let Err(e) = self.store.delete_revocation(&row.id).await {
                    tracing::warn!(revocation = %row.id, error = %e, "could not update the revocation queue");
                }
                continue;
            }
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

    /// Whether the queued credential is in a slot of its rotation (published or previous).
    async fn held_in_a_slot(&self, row: &RevocationRow) -> bool {
        let Ok(Some(rotation)) = self.store.get_rotation(&row.rotation_id).await else {
            return false;
        };
        let Ok(key) = self.rotation_key(&rotation.project_id).await else {
            return false;
        };
        self.open_slots(&key, &rotation).is_ok_and(|slots| {
            slots
                .iter()
                .any(|c| c.token_id.to_string() == row.credential_id)
        })
    }

    /// Queues one credential for revocation (worked within seconds, retried until dbt confirms).
    pub(crate) async fn queue_revocation(
        &self,
        rotation_id: &str,
        connection_id: &str,
        token_id: i64,
    ) -> Result<()> {
        let now = now_ms();
        self.store
            .enqueue_revocations(&[RevocationRow {
                id: new_id(),
                rotation_id: rotation_id.to_string(),
                connection_id: connection_id.to_string(),
                credential_id: token_id.to_string(),
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                created_at: now,
            }])
            .await?;
        Ok(())
    }
}
