//! Recovery: what a crash or a lost answer leaves behind is resumed or swept, and the
//! revocation queue is worked until dbt confirms (docs/ARCHITECTURE.md, "The engine").

use super::attempt::Trigger;
use super::engine::Engine;
use super::open_slots;
use crate::error::{Error, Result};
use crate::providers::{Credential, RotationProvider};
use crate::services::new_id;
use crate::store::{IntentRow, LeasedRotation, RevocationRow, RotationRow};

/// Why a revocation or a sweep waits: its connection points elsewhere than the token lives.
const MOVED: &str = "the connection now points at another dbt instance or account than the one \
                     this token was minted at; it is kept until the connection points there again";

impl Engine {
    /// Whether no create of `intent` can still land at dbt: past twice the request timeout
    /// plus a margin since it started (docs/ARCHITECTURE.md, "Sweeps").
    fn late_window_passed(&self, intent: &IntentRow) -> bool {
        let window = i64::try_from(self.settings.dbt_request_timeout.as_millis())
            .unwrap_or(15_000)
            .saturating_mul(2)
            .saturating_add(5_000);
        self.now() - intent.started_at >= window
    }

    /// Settles every intent an earlier executor of `row` left, under `owner`'s lease (the
    /// engine does this before it rotates). Returns whether a credential was published.
    pub(super) async fn settle_leftovers(&self, row: &RotationRow, owner: &str) -> Result<bool> {
        let mut published = false;
        for intent in self.store.intents_of(&row.id).await? {
            if intent.swept_at.is_some() && !self.late_window_passed(&intent) {
                continue; // Swept already; the final sweep waits for the late window.
            }
            // A settle may have changed the row: each one starts from a fresh read.
            let current = self.store.get_leased_rotation(&row.id).await?;
            published |= self
                .settle_intent(&intent, current.as_ref().map(|r| (r, owner)))
                .await?;
        }
        Ok(published)
    }

    /// Marks the intent swept, then queues every live credential named for it. When the
    /// intent got its credential first, sweeps nothing (it is published, not swept).
    pub(crate) async fn sweep_intent(
        &self,
        provider: &dyn RotationProvider,
        intent: &IntentRow,
    ) -> Result<usize> {
        if intent.swept_at.is_none()
            && !self
                .store
                .mark_intent_swept(&intent.id, self.now(), false)
                .await?
        {
            return Ok(0);
        }
        self.sweep_named(provider, intent).await
    }

    /// Queues the live credentials named for the intent (exactly its own, see
    /// [`crate::providers::intent_name`]).
    async fn sweep_named(
        &self,
        provider: &dyn RotationProvider,
        intent: &IntentRow,
    ) -> Result<usize> {
        if !intent.target.is_empty() && provider.target() != intent.target {
            return Err(Error::Internal(MOVED.to_string()));
        }
        let found = provider
            .find_named(&intent.token_name)
            .await
            .map_err(|e| Error::Internal(e.message))?;
        let now = self.now();
        let rows: Vec<RevocationRow> = found
            .iter()
            .map(|id| {
                revocation(
                    &intent.rotation_id,
                    &intent.connection_id,
                    id,
                    &intent.target,
                    now,
                )
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
        if intent.swept_at.is_some() {
            // Only the final sweep is left, once no late create can land.
            if !self.late_window_passed(intent) {
                return Ok(false);
            }
            self.settle_intent(intent, None).await?;
            return Ok(true);
        }
        let exists = self
            .store
            .get_rotation(&intent.rotation_id)
            .await?
            .is_some();
        self.pauses.at("recovery-read").await;
        if !exists {
            if self.now() - intent.created_at < self.settings.lease_ms {
                return Ok(false); // A creation may still be in flight.
            }
            self.settle_intent(intent, None).await?;
            return Ok(true);
        }
        let owner = self.lease_owner();
        let now = self.now();
        if !self
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
        self.pauses.at("recovery-leased").await;
        let result = self
            .holding_lease(&intent.rotation_id, &owner, async {
                // Re-read both under the lease: a commit may have landed since the listing.
                let row = self.store.get_leased_rotation(&intent.rotation_id).await?;
                let fresh = self
                    .store
                    .intents_of(&intent.rotation_id)
                    .await?
                    .into_iter()
                    .find(|i| i.id == intent.id);
                match (row, fresh) {
                    (Some(row), Some(fresh)) => {
                        self.settle_intent(&fresh, Some((&row, &owner))).await
                    }
                    _ => Ok(false), // Settled or deleted meanwhile; the next pass looks again.
                }
            })
            .await;
        self.store
            .release_lease(&intent.rotation_id, &owner)
            .await?;
        result.map(|_| true)
    }

    /// Settles one intent. `leased` is its rotation as read under the caller's lease, with
    /// the lease owner; `None` when the rotation does not exist (a creation that never
    /// finished, or a deleted rotation) or the intent is swept already. A persisted credential
    /// is published; anything else is swept now, and once more after the late window before
    /// the intent is forgotten. Returns whether a credential was published.
    async fn settle_intent(
        &self,
        intent: &IntentRow,
        leased: Option<(&LeasedRotation, &str)>,
    ) -> Result<bool> {
        let key = self.key(&intent.project_id).await?;
        let credential: Option<Credential> = match &intent.credential {
            Some(sealed) => Some(
                serde_json::from_str(&key.open_str(&format!("{}:credential", intent.id), sealed)?)
                    .map_err(|e| Error::Unexpected(e.into()))?,
            ),
            None => None,
        };
        if intent.swept_at.is_none() {
            match (leased, &credential) {
                (Some((leased, owner)), Some(credential)) => {
                    let row = &leased.row;
                    let held = open_slots(&key, row)?.iter().any(|c| c.same(credential));
                    if held {
                        self.store.delete_intent(&intent.id).await?;
                        return Ok(false);
                    }
                    // A prepared credential (a password sealed before its ALTER) is published
                    // only if it took effect; else the user kept its old one, which its slot
                    // holds, and the next attempt starts over (docs/ARCHITECTURE.md,
                    // "Providers"). Unsure (the provider cannot tell) keeps the intent.
                    let provider = self
                        .provider(&intent.connection_id, None)
                        .await
                        .map_err(|e| Error::Internal(e.message))?;
                    if !provider
                        .landed(credential)
                        .await
                        .map_err(|e| Error::Internal(e.message))?
                    {
                        tracing::info!(rotation_id = %row.id, intent = %intent.id, "a prepared credential never took effect; dropping its intent");
                        self.store.delete_intent(&intent.id).await?;
                        return Ok(false);
                    }
                    let trigger = Trigger {
                        manual: row.is_last_rotation_manual,
                        job_id: Some(format!("recovery-{}", intent.id)),
                        final_attempt: true,
                    };
                    // The lease stays with the caller (recovery, or a rotation that goes on).
                    let published = self
                        .commit(
                            leased,
                            owner,
                            &intent.id,
                            credential.clone(),
                            &trigger,
                            false,
                        )
                        .await?
                        .is_some();
                    if published {
                        tracing::info!(rotation_id = %row.id, "recovery published a credential issued before a crash");
                    }
                    return Ok(published);
                }
                (leased, _) => {
                    // Without a rotation, even a persisted credential is never published.
                    if !self
                        .store
                        .mark_intent_swept(&intent.id, self.now(), leased.is_none())
                        .await?
                    {
                        return Ok(false); // A credential arrived meanwhile: the next pass publishes it.
                    }
                }
            }
        }
        let provider = self
            .provider(&intent.connection_id, None)
            .await
            .map_err(|e| Error::Internal(e.message))?;
        let mut swept = self.sweep_named(provider.as_ref(), intent).await?;
        if let Some(c) = credential {
            // A creation that never committed, or a rotation deleted since: nobody owns it.
            self.queue_revocation(&intent.rotation_id, &intent.connection_id, &c)
                .await?;
            swept += 1;
        }
        let last = self.late_window_passed(intent);
        if last {
            self.store.delete_intent(&intent.id).await?;
        }
        tracing::info!(intent = %intent.id, swept, last, "recovery swept an unfinished issuance");
        Ok(false)
    }

    /// Works the revocation queue (of one rotation, or everything due). Failures stay queued
    /// with a growing delay; nothing is dropped.
    pub async fn work_revocations(&self, rotation_id: Option<&str>) {
        let rows = match rotation_id {
            Some(id) => self.store.revocations_of(id).await,
            None => self.store.due_revocations(self.now(), 100).await,
        };
        let rows = match rows {
            // What this process saw revoked already only waits to leave the queue.
            Ok(rows) => self.confirmed.pending(rows),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the revocation queue");
                return;
            }
        };
        for row in rows {
            match self.held_in_a_slot(&row).await {
                Ok(false) => {}
                Ok(true) => {
                    // Never revoke what a slot holds (I1, I2): this entry lost a race it should
                    // not have entered, and the token is accounted for by its slot (I4).
                    tracing::warn!(revocation = %row.id, rotation_id = %row.rotation_id, "queued credential is held by a slot; not revoking it");
                    if let Err(e) = self.store.delete_revocation(&row.id).await {
                        tracing::warn!(revocation = %row.id, error = %e, "could not update the revocation queue");
                    }
                    continue;
                }
                Err(e) => {
                    // Unsure means keep the token: the entry waits for a pass that can tell.
                    tracing::warn!(revocation = %row.id, error = %e, "cannot tell whether a slot holds the queued credential; keeping it");
                    let retry = self.now() + 5_000;
                    if let Err(e) = self
                        .store
                        .defer_revocation(&row.id, retry, "slot check failed")
                        .await
                    {
                        tracing::warn!(revocation = %row.id, error = %e, "could not update the revocation queue");
                    }
                    continue;
                }
            }
            let outcome = match self.provider(&row.connection_id, None).await {
                // dbt's 404 at another account would count as "revoked": keep the entry.
                Ok(provider) if !row.target.is_empty() && provider.target() != row.target => {
                    Err(MOVED.to_string())
                }
                Ok(provider) => provider
                    .revoke(&row.credential_id)
                    .await
                    .map_err(|e| e.message),
                Err(e) => Err(e.message),
            };
            let stored = match outcome {
                Ok(()) => self.store.delete_revocation(&row.id).await,
                Err(message) => {
                    tracing::warn!(revocation = %row.id, attempts = row.attempts + 1, "revocation failed; will retry");
                    self.store
                        .defer_revocation(
                            &row.id,
                            self.now() + retry_delay_ms(row.attempts),
                            &message,
                        )
                        .await
                }
            };
            if let Err(e) = stored {
                tracing::warn!(revocation = %row.id, error = %e, "could not update the revocation queue");
            }
        }
    }

    /// Revokes the credential a commit just displaced (its queue entry `queued`, written by
    /// that commit) through `provider`, the one that minted its successor: no second provider,
    /// no read. Confirmed, the entry leaves the queue with the next batch; otherwise it stays
    /// queued for the worker with the worker's delay, so a crash or a dbt failure loses nothing. No slot check is needed:
    /// the commit checked the slots it wrote, and no write ever puts a displaced credential
    /// back into a slot.
    pub(super) async fn revoke_displaced(
        &self,
        provider: &dyn RotationProvider,
        queued: &RevocationRow,
    ) {
        if !queued.target.is_empty() && provider.target() != queued.target {
            return; // The worker keeps it until the connection points there again.
        }
        let stored = match provider.revoke(&queued.credential_id).await {
            Ok(()) => {
                // Deleted from the queue with others, a moment later (`revoked.rs`).
                self.confirmed.push(&queued.id);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(revocation = %queued.id, "revocation failed; will retry");
                self.store
                    .defer_revocation(
                        &queued.id,
                        self.now() + retry_delay_ms(queued.attempts),
                        &e.message,
                    )
                    .await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(revocation = %queued.id, error = %e, "could not update the revocation queue");
        }
    }

    /// Whether the queued credential is in a slot of its rotation (published or previous). An
    /// error means "cannot tell", never "no".
    async fn held_in_a_slot(&self, row: &RevocationRow) -> Result<bool> {
        let Some(rotation) = self.store.get_rotation(&row.rotation_id).await? else {
            return Ok(false);
        };
        let key = self.key(&rotation.project_id).await?;
        Ok(open_slots(&key, &rotation)?
            .iter()
            .any(|c| c.is(&row.credential_id, &row.target)))
    }

    /// Queues one credential for revocation (worked within seconds, retried until dbt confirms).
    pub(crate) async fn queue_revocation(
        &self,
        rotation_id: &str,
        connection_id: &str,
        credential: &Credential,
    ) -> Result<()> {
        self.store
            .enqueue_revocations(&[revocation(
                rotation_id,
                connection_id,
                &credential.id(),
                credential.target(),
                self.now(),
            )])
            .await?;
        Ok(())
    }
}

/// How long a failed revocation waits before its next attempt, after `attempts` failures.
fn retry_delay_ms(attempts: i64) -> i64 {
    (1000 * 2i64.saturating_pow(attempts.clamp(0, 8) as u32)).min(300_000)
}

/// A queue entry for one credential, due at once.
pub(super) fn revocation(
    rotation_id: &str,
    connection_id: &str,
    credential_id: &str,
    target: &str,
    now: i64,
) -> RevocationRow {
    RevocationRow {
        id: new_id(),
        rotation_id: rotation_id.to_string(),
        connection_id: connection_id.to_string(),
        credential_id: credential_id.to_string(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        target: target.to_string(),
    }
}
