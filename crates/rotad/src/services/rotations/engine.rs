//! The rotation engine: lease, intent, issue, commit, revoke, recover (docs/ARCHITECTURE.md).
//!
//! A new credential is issued before anything is revoked, stored (sealed) against its intent
//! the moment it exists, and published in one transaction that also queues the displaced
//! credential for revocation. A crash at any step leaves an intent that recovery either
//! resumes (credential stored) or sweeps (orphans found at the provider are revoked).

use std::sync::Arc;

use tracing::Instrument;

use super::attempt::{rotation_span, IssueFailure, RotateError, Trigger};
use super::not_found;
use super::pause::PausePoints;
use super::revoked::Confirmed;
use crate::config::TimeUnit;
use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::providers::{Credential, ProviderError, ProviderFactory, RotationProvider};
use crate::services::keyring::{project_scope, Keyring};
use crate::services::new_id;
use crate::store::{IntentRow, LeasedRotation, RevocationRow, RotationRow, Store};
use crate::time::Clock;

/// What the engine needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub rotation_time_unit: TimeUnit,
    /// How long one executor may hold a rotation before others may take it over (ms).
    pub lease_ms: i64,
    /// The scheduler's tick (ms); also the base of the retry backoff.
    pub scheduler_poll_ms: i64,
    /// Time allowed for one provider request; sets the late-create window.
    pub dbt_request_timeout: std::time::Duration,
}

/// The rotation engine: the only code that mints, publishes, sweeps and revokes credentials.
/// The API, the scheduler and recovery all go through its few entry points ([`Engine::rotate`],
/// [`Engine::rotate_claimed`], [`Engine::issue_tracked`] for creation, [`Engine::delete`],
/// [`Engine::recover`], [`Engine::work_revocations`]). It sees the store, the keys, a provider
/// factory, a clock and its settings, nothing else.
pub struct Engine {
    pub(super) store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    providers: Arc<dyn ProviderFactory>,
    clock: Arc<dyn Clock>,
    pub(super) settings: EngineSettings,
    /// Pause points, for tests of races and crashes.
    pub pauses: PausePoints,
    /// Revocations dbt confirmed, waiting to leave the queue (`revoked.rs`).
    pub(super) confirmed: Confirmed,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<Keyring>,
        providers: Arc<dyn ProviderFactory>,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
    ) -> Self {
        Self {
            store,
            keys,
            providers,
            clock,
            settings,
            pauses: PausePoints::default(),
            confirmed: Confirmed::default(),
        }
    }

    /// A lease owner of its own: one per task, never shared (docs/ARCHITECTURE.md, "Fencing").
    pub(crate) fn lease_owner(&self) -> String {
        format!("rotad-{}", new_id())
    }

    /// A provider for a connection (`parameters`: the rotation's stored JSON, if any).
    pub(crate) async fn provider(
        &self,
        connection_id: &str,
        parameters: Option<&str>,
    ) -> std::result::Result<Box<dyn RotationProvider>, ProviderError> {
        self.providers.provider(connection_id, parameters).await
    }

    /// The data key of a project.
    pub(super) async fn key(&self, project_id: &str) -> Result<DataKey> {
        self.keys
            .key_for(self.store.as_ref(), &project_scope(project_id))
            .await
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A new intent for `rotation_id`, issuing into slot `slot` through `provider`; its
    /// credential will be named for it.
    pub(super) fn new_intent(
        &self,
        rotation_id: &str,
        project_id: &str,
        connection_id: &str,
        provider: &dyn RotationProvider,
        slot: usize,
    ) -> IntentRow {
        let id = new_id();
        let now = self.now();
        IntentRow {
            token_name: provider.credential_name(&id, slot),
            target: provider.target(),
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
    /// can resume or sweep (I4). A prepared credential (a database password) is sealed onto
    /// the intent before the provider sets it (docs/ARCHITECTURE.md, "Providers").
    pub(super) async fn issue_tracked(
        &self,
        provider: &dyn RotationProvider,
        intent: &IntentRow,
    ) -> std::result::Result<Credential, IssueFailure> {
        let key = self.key(&intent.project_id).await?;
        let prepared = provider.prepare(&intent.token_name);
        let written;
        let intent = match &prepared {
            Some(credential) => {
                let mut with = intent.clone();
                with.credential = Some(super::seal_credential(&key, &intent.id, credential)?);
                written = with;
                &written
            }
            None => intent,
        };
        self.store.insert_intent(intent).await?;
        self.pauses.at("intent").await;
        let credential = match provider.issue(&intent.token_name, prepared.as_ref()).await {
            Ok(c) => c,
            Err(e) => {
                if e.ambiguous && prepared.is_some() {
                    // The prepared credential may have taken effect (a password set, then its
                    // verifying login failed): the old one may be gone. For a rotation, the
                    // intent keeps it sealed; recovery publishes it once it is seen to work,
                    // or drops the intent when it does not (docs/ARCHITECTURE.md,
                    // "Providers"). Nothing is swept: that would revoke the very user. A
                    // creation that fails has shown nothing: its intent goes.
                    if self
                        .store
                        .get_rotation(&intent.rotation_id)
                        .await?
                        .is_some()
                    {
                        tracing::warn!(intent = %intent.id, "issuance failed after the provider may have applied the prepared credential; recovery settles it");
                    } else {
                        self.store.delete_intent(&intent.id).await?;
                    }
                } else if e.ambiguous {
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
        let sealed = super::seal_credential(&key, &intent.id, &credential)?;
        if !self
            .store
            .set_intent_credential(&intent.id, &sealed)
            .await?
        {
            // Recovery swept the intent meanwhile: the new credential belongs to nobody (I4).
            tracing::warn!(intent = %intent.id, "issuance settled elsewhere; revoking the credential it got");
            self.queue_revocation(&intent.rotation_id, &intent.connection_id, &credential)
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
        let now = self.now();
        let leased = self
            .store
            .lease_rotation(rotation_id, &owner, now, now + self.settings.lease_ms)
            .await
            .map_err(Error::from)?;
        match leased {
            Some(leased) => self.rotate_claimed(leased, &owner, trigger).await,
            None => Err(
                match self
                    .store
                    .get_rotation(rotation_id)
                    .await
                    .map_err(Error::from)?
                {
                    Some(_) => RotateError::InProgress,
                    None => RotateError::Other(not_found(rotation_id)),
                },
            ),
        }
    }

    /// Rotates once under a lease `owner` already holds (the scheduler's claim, or
    /// [`Engine::rotate`]'s), from the rotation as the statement that took the lease read it.
    /// Everything under the lease (settling an earlier executor's leftovers too) runs while it
    /// is renewed; the last write hands it back; the displaced credential is then revoked.
    pub async fn rotate_claimed(
        &self,
        claimed: LeasedRotation,
        owner: &str,
        trigger: Trigger,
    ) -> std::result::Result<RotationRow, RotateError> {
        let rotation_id = claimed.row.id.clone();
        let kind = claimed.row.rotation_type.clone();
        async {
            self.pauses.at("lease").await;
            let started = std::time::Instant::now();
            let outcome = self
                .holding_lease(
                    &rotation_id,
                    owner,
                    self.rotate_leased(claimed, owner, &trigger),
                )
                .await;
            crate::metrics::global().rotation(&kind, outcome.is_ok(), started.elapsed());
            match outcome {
                Ok(Pass::Committed {
                    row,
                    displaced,
                    provider,
                    settled,
                }) => {
                    self.pauses.at("committed").await;
                    if let Some(revocation) = displaced {
                        self.revoke_displaced(provider.as_ref(), &revocation).await;
                    }
                    if settled {
                        // What settling an earlier executor's intents queued.
                        self.work_revocations(Some(&rotation_id)).await;
                    }
                    Ok(row)
                }
                outcome => {
                    // A recorded failure handed the lease back with its record; anything else
                    // hands it back here (a no-op when it went to another executor).
                    if !matches!(outcome, Err(RotateError::Failed(_))) {
                        if let Err(e) = self.store.release_lease(&rotation_id, owner).await {
                            tracing::warn!(rotation_id, error = %e, "could not release rotation lease; it will expire");
                        }
                    }
                    // Swept orphans (after an ambiguous failure) and what settling queued are
                    // revoked now, not at some later pass.
                    self.work_revocations(Some(&rotation_id)).await;
                    outcome.map(Pass::into_row)
                }
            }
        }
        .instrument(rotation_span(&rotation_id))
        .await
    }

    /// Runs `work` while renewing the rotation's lease every third of its length, so a slow
    /// provider never lets the lease lapse under a live executor (another executor would
    /// then mint a second token). A lost lease is only logged: every write checks the owner.
    ///
    /// The renewals run beside `work`, never instead of it: a renewal waits for what `work`'s
    /// own transaction holds (the rotation's row lock on PostgreSQL, the single writer on
    /// SQLite), so `work` must go on while one waits, or neither would.
    pub(super) async fn holding_lease<T>(
        &self,
        rotation_id: &str,
        owner: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let renewals = self.renew_lease_forever(rotation_id, owner);
        tokio::pin!(work, renewals);
        tokio::select! {
            out = &mut work => out,
            never = &mut renewals => match never {},
        }
    }

    /// Renews the lease every third of its length, until dropped.
    async fn renew_lease_forever(
        &self,
        rotation_id: &str,
        owner: &str,
    ) -> std::convert::Infallible {
        let period = std::time::Duration::from_millis((self.settings.lease_ms / 3).max(50) as u64);
        loop {
            tokio::time::sleep(period).await;
            let now = self.now();
            match self
                .store
                .renew_lease(rotation_id, owner, now + self.settings.lease_ms)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(rotation_id, "rotation lease lost to another executor")
                }
                Err(e) => {
                    tracing::warn!(rotation_id, error = %e, "cannot renew the rotation lease")
                }
            }
        }
    }

    /// One pass under the lease, from the rotation as read when the lease was taken (nothing
    /// read before the lease is trusted): settle leftovers if any, build the provider, intent →
    /// issue → persist, commit.
    async fn rotate_leased(
        &self,
        claimed: LeasedRotation,
        owner: &str,
        trigger: &Trigger,
    ) -> std::result::Result<Pass, RotateError> {
        let rotation_id = claimed.row.id.clone();
        let mut leased = claimed;
        let settled = leased.has_intents;
        if settled {
            // What an earlier executor left is settled first. A scheduled rotation whose
            // interrupted attempt gets published by that is done: that was the due rotation.
            if self.settle_leftovers(&leased.row, owner).await? && !trigger.manual {
                return Ok(Pass::Settled(self.read(&rotation_id).await?));
            }
            leased = self.read_leased(&rotation_id).await?;
        }
        let row = &leased.row;
        let slot = super::inactive_slot(
            &super::open_slots(&self.key(&row.project_id).await?, row)?,
            row,
        );
        let provider = match self
            .providers
            .provider_at(
                &row.connection_id,
                leased.connection_version,
                Some(&row.parameters),
            )
            .await
        {
            Ok(p) => p,
            Err(e) => return Err(self.fail(&leased, owner, trigger, &e).await),
        };
        let intent = self.new_intent(
            &row.id,
            &row.project_id,
            &row.connection_id,
            provider.as_ref(),
            slot,
        );
        let credential = match self.issue_tracked(provider.as_ref(), &intent).await {
            Ok(c) => c,
            Err(IssueFailure::Provider(e)) => {
                return Err(self.fail(&leased, owner, trigger, &e).await)
            }
            Err(IssueFailure::Settled) => return Err(RotateError::InProgress),
            Err(IssueFailure::Other(e)) => return Err(e.into()),
        };
        match self
            .commit(&leased, owner, &intent.id, credential, trigger, true)
            .await?
        {
            Some(done) => Ok(Pass::Committed {
                row: done.row,
                displaced: done.displaced,
                provider,
                settled,
            }),
            // The lease went to another executor, which publishes this credential from its
            // intent (or has already).
            None => Err(RotateError::InProgress),
        }
    }

    /// The rotation as it is now.
    async fn read(&self, rotation_id: &str) -> std::result::Result<RotationRow, RotateError> {
        Ok(self
            .store
            .get_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?)
    }

    /// The rotation as it is now, with what a pass needs beside it.
    async fn read_leased(
        &self,
        rotation_id: &str,
    ) -> std::result::Result<LeasedRotation, RotateError> {
        Ok(self
            .store
            .get_leased_rotation(rotation_id)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(rotation_id))?)
    }

    /// Provider clients built so far (one per connection version, not one per rotation).
    pub fn clients_built(&self) -> u64 {
        self.providers.clients_built()
    }
}

/// How one pass under the lease ended, when it did not fail.
enum Pass {
    /// Committed, the lease handed back with the commit. `displaced` is the queue entry of the
    /// credential it displaced, to be revoked through `provider`; `settled` says whether an
    /// earlier executor's intents were settled first (they may have queued more).
    Committed {
        row: RotationRow,
        displaced: Option<RevocationRow>,
        provider: Box<dyn RotationProvider>,
        settled: bool,
    },
    /// What an earlier executor left was published, and that was the due rotation.
    Settled(RotationRow),
}

impl Pass {
    fn into_row(self) -> RotationRow {
        match self {
            Pass::Committed { row, .. } | Pass::Settled(row) => row,
        }
    }
}
