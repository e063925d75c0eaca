//! PATCH of a rotation (docs/ARCHITECTURE.md, "PATCH lanes"): fenced on the row's version,
//! queued per rotation in this process, and committed in groups: the PATCHes that queue while
//! one commits are applied in order to the row and committed together, one transaction with one
//! audit entry each, and each caller is answered with the rotation as its own PATCH left it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

use super::lanes::{Lane, Waiting};
use super::manage::{name_taken, secrets_exist, PATCH_ATTEMPTS};
use super::{check_type, not_found, schedule, RotationView, SecretsMapping, UpdateRotation};
use crate::config::TimeUnit;
use crate::error::{Error, Result};
use crate::services::audit::Event;
use crate::services::authz::{Action, Subject};
use crate::services::connections::check_grants;
use crate::services::secrets::seal_secret;
use crate::services::{App, Ctx};
use crate::store::{
    AuditRow, RotationRow, SecretWrite, StoreError, Trail, ROTATION_CHANGED, SECRET_CHANGED,
};
use crate::time::now_ms;

impl App {
    /// PATCH, fenced on the row version: applied to the row as read; when anything wrote the
    /// row meanwhile, read again and re-applied (the caller never sees the conflict), with the
    /// schedule recomputed from the committed row. Runs detached from the request, since it may
    /// commit other callers' PATCHes with its own.
    pub async fn update_rotation(
        self: &Arc<Self>,
        ctx: &Ctx,
        id: &str,
        input: UpdateRotation,
    ) -> Result<RotationView> {
        let (app, ctx, id) = (self.clone(), ctx.clone(), id.to_string());
        let work = async move {
            let lane = app.patch_lanes.enter(&id);
            let outcome = app.patch_in_lane(&ctx, &id, input, &lane).await;
            app.patch_lanes.leave(&id, lane);
            outcome
        };
        tokio::spawn(work.instrument(tracing::Span::current()))
            .await
            .unwrap_or_else(|e| Err(Error::Unexpected(anyhow::anyhow!("PATCH task failed: {e}"))))
    }

    /// Queues the PATCH; whoever holds the lane next commits every PATCH queued by then.
    async fn patch_in_lane(
        &self,
        ctx: &Ctx,
        id: &str,
        input: UpdateRotation,
        lane: &Lane,
    ) -> Result<RotationView> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        lane.queue(Waiting {
            ctx: ctx.clone(),
            input,
            answer,
        });
        self.engine.pauses.at("patch-queued").await;
        let mut answered = std::pin::pin!(answered);
        // The answer, or the lane, whichever comes first: a PATCH that the lane's holder
        // committed in its group is answered at once, not after this caller has waited its
        // turn at the lane behind the groups that follow (docs/ARCHITECTURE.md, "PATCH lanes").
        let mut last = tokio::select! {
            biased;
            outcome = &mut answered => return answer_of(outcome),
            last = lane.last.lock() => last,
        };
        self.engine.pauses.at("patch-lane").await;
        lane.gather().await;
        let batch = lane.take();
        if !batch.is_empty() {
            self.patch_batch(id, &mut last, batch).await;
            lane.committed();
        }
        drop(last);
        // Whoever held the lane before this caller answered everything it took, so this
        // caller's PATCH was answered by then or was in the batch it just committed.
        answer_of(answered.await)
    }

    /// Commits a batch in order: runs of plain settings changes together, a PATCH that changes
    /// the parameters or the secrets mapping on its own.
    async fn patch_batch(&self, id: &str, last: &mut Option<RotationView>, batch: Vec<Waiting>) {
        let plain = |w: &Waiting| w.input.parameters.is_none() && w.input.secrets_mapping.is_none();
        let mut queue: VecDeque<Waiting> = batch.into();
        while let Some(first) = queue.pop_front() {
            if !plain(&first) {
                let outcome = self.patch_one(id, last, &first.ctx, &first.input).await;
                let _ = first.answer.send(outcome);
                continue;
            }
            let mut group = vec![first];
            while queue.front().is_some_and(plain) {
                if let Some(next) = queue.pop_front() {
                    group.push(next);
                }
            }
            if group.len() == 1 {
                let only = group.remove(0);
                let outcome = self.patch_one(id, last, &only.ctx, &only.input).await;
                let _ = only.answer.send(outcome);
            } else {
                self.patch_group(id, last, group).await;
            }
        }
    }

    /// Where an attempt starts: what the lane last committed, the cached view, or (after a
    /// failed fence) the row read from the store now.
    async fn patch_base(
        &self,
        id: &str,
        last: &mut Option<RotationView>,
        attempt: usize,
    ) -> Result<RotationView> {
        let known = match last.take() {
            Some(view) => Some(view),
            None if attempt == 0 => self
                .cached_rotation_view(id)
                .await?
                .map(|v| v.value.clone()),
            None => None,
        };
        match known {
            Some(view) if attempt == 0 => Ok(view),
            _ => self
                .fresh_rotation_view(id)
                .await?
                .ok_or_else(|| not_found(id)),
        }
    }

    /// Whether `ctx` may PATCH the rotation `view` shows.
    async fn may_patch(
        &self,
        ctx: &Ctx,
        id: &str,
        view: &RotationView,
        input: &UpdateRotation,
    ) -> Result<()> {
        if view.row.org_id != ctx.actor.org_id {
            return Err(super::not_found_of(input.kind, id));
        }
        self.authorize_only(
            ctx,
            &view.row.project_id,
            Subject::SecretRotation,
            Action::Edit,
        )
        .await?;
        check_type(input.kind, &view.row)
    }

    /// One PATCH on its own, started again from a fresh read while the fence fails.
    async fn patch_one(
        &self,
        id: &str,
        last: &mut Option<RotationView>,
        ctx: &Ctx,
        input: &UpdateRotation,
    ) -> Result<RotationView> {
        for attempt in 0..PATCH_ATTEMPTS {
            let view = self.patch_base(id, last, attempt).await?;
            self.may_patch(ctx, id, &view, input).await?;
            if let Some(updated) = self.try_update(ctx, &view, input).await? {
                *last = Some(updated.clone());
                return Ok(updated);
            }
        }
        Err(Error::Unexpected(anyhow::anyhow!(
            "rotation {id} kept changing during a PATCH"
        )))
    }

    /// Plain settings PATCHes applied in order and committed in one transaction; each caller
    /// gets the rotation as its own PATCH left it. A PATCH the rules refuse is answered alone
    /// and skipped; when the commit fails on anything but the fence (a name taken), each is
    /// run on its own so each gets its own answer.
    async fn patch_group(&self, id: &str, last: &mut Option<RotationView>, group: Vec<Waiting>) {
        for attempt in 0..PATCH_ATTEMPTS {
            let base = match self.patch_base(id, last, attempt).await {
                Ok(view) => view,
                Err(_) => break,
            };
            self.engine.pauses.at("patch-read").await;
            let now = now_ms();
            let mut current = base.clone();
            let mut outcomes: Vec<Result<RotationView>> = Vec::with_capacity(group.len());
            let mut audit = Vec::new();
            for waiting in &group {
                if let Err(e) = self
                    .may_patch(&waiting.ctx, id, &current, &waiting.input)
                    .await
                {
                    outcomes.push(Err(e));
                    continue;
                }
                let next = apply_settings(
                    &current.row,
                    &waiting.input,
                    self.settings.rotation_time_unit,
                    now,
                );
                audit.push(self.patch_audit(&waiting.ctx, &current.row, &waiting.input));
                current.row = next;
                outcomes.push(Ok(current.clone()));
            }
            let trail = Trail {
                audit,
                deliveries: Vec::new(),
            };
            let committed = if trail.audit.is_empty() {
                Ok(())
            } else {
                self.store
                    .update_rotation_settings(&current.row, base.row.version, None, &trail)
                    .await
            };
            match committed {
                Ok(()) => {
                    let version = base.row.version + i64::from(!trail.audit.is_empty());
                    current.row.version = version;
                    *last = Some(current);
                    for (waiting, mut outcome) in group.into_iter().zip(outcomes) {
                        if let Ok(view) = outcome.as_mut() {
                            view.row.version = version;
                        }
                        let _ = waiting.answer.send(outcome);
                    }
                    return;
                }
                Err(StoreError::Conflict(ROTATION_CHANGED)) => continue,
                Err(_) => break,
            }
        }
        // Each on its own: every caller gets exactly its own answer.
        for waiting in group {
            let outcome = self.patch_one(id, last, &waiting.ctx, &waiting.input).await;
            let _ = waiting.answer.send(outcome);
        }
    }

    /// The audit entry of one PATCH of `row`.
    fn patch_audit(&self, ctx: &Ctx, row: &RotationRow, input: &UpdateRotation) -> AuditRow {
        let mut metadata = input.audit_body.clone();
        metadata["rotationId"] = json!(row.id);
        metadata["type"] = json!(input.kind.slug);
        self.audit_row(
            ctx,
            Some(&row.project_id),
            Event::new("update-secret-rotation", metadata),
        )
    }

    /// One attempt of a PATCH on the rotation as `view` shows it: the view as committed, or
    /// `None` when the row changed since it was read.
    async fn try_update(
        &self,
        ctx: &Ctx,
        view: &RotationView,
        input: &UpdateRotation,
    ) -> Result<Option<RotationView>> {
        self.engine.pauses.at("patch-read").await;
        let row = &view.row;
        let folder_path = view.folder_path.clone();
        let now = now_ms();
        let mut next = apply_settings(row, input, self.settings.rotation_time_unit, now);
        if let Some(p) = &input.parameters {
            let connection = self
                .store
                .get_connection(&row.connection_id)
                .await?
                .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("rotation connection missing")))?;
            check_grants(&self.open_row(connection).await?, &p.permission_grants)?;
            next.parameters = serde_json::to_string(p).map_err(|e| Error::Unexpected(e.into()))?;
        }
        let mut secret_write = None;
        if let Some(mapping) = &input.secrets_mapping {
            let old: SecretsMapping = serde_json::from_str(&row.secrets_mapping)
                .map_err(|e| Error::Unexpected(e.into()))?;
            if *mapping != old {
                if self
                    .store
                    .get_secret(&row.folder_id, &mapping.service_token, "shared")
                    .await?
                    .is_some()
                {
                    return Err(secrets_exist(&folder_path, &[&mapping.service_token]));
                }
                let secret = self
                    .store
                    .get_secret(&row.folder_id, &old.service_token, "shared")
                    .await?
                    .ok_or_else(|| {
                        Error::Unexpected(anyhow::anyhow!("published secret missing"))
                    })?;
                let key = self.rotation_key(&row.project_id).await?;
                let value = key.open_str(&format!("{}:value", secret.id), &secret.value)?;
                let comment = key.open_str(&format!("{}:comment", secret.id), &secret.comment)?;
                let mut renamed = secret.clone();
                renamed.key = mapping.service_token.clone();
                renamed.version = secret.version + 1;
                renamed.updated_at = now;
                let version = seal_secret(&key, &mut renamed, &value, &comment);
                secret_write = Some(SecretWrite {
                    secret: renamed,
                    expected_version: secret.version,
                    version,
                });
            }
            next.secrets_mapping =
                serde_json::to_string(mapping).map_err(|e| Error::Unexpected(e.into()))?;
        }
        let trail = Trail {
            audit: vec![self.patch_audit(ctx, row, input)],
            deliveries: Vec::new(),
        };
        match self
            .store
            .update_rotation_settings(&next, row.version, secret_write.as_ref(), &trail)
            .await
        {
            Ok(()) => {
                // What was committed: `next`, one version on (no need to read it back).
                next.version = row.version + 1;
                let mut updated = view.clone();
                updated.parameters =
                    serde_json::from_str(&next.parameters).unwrap_or(serde_json::Value::Null);
                updated.secrets_mapping =
                    serde_json::from_str(&next.secrets_mapping).unwrap_or(serde_json::Value::Null);
                updated.row = next;
                Ok(Some(updated))
            }
            // A commit, a failure or another PATCH landed since the read: start again from
            // the committed row, so nothing it wrote is lost.
            Err(StoreError::Conflict(ROTATION_CHANGED | SECRET_CHANGED)) => Ok(None),
            Err(StoreError::Conflict("rotation name")) => Err(name_taken(&next.name, &folder_path)),
            Err(StoreError::Conflict(_)) => {
                let key = input
                    .secrets_mapping
                    .as_ref()
                    .map(|m| m.service_token.clone())
                    .unwrap_or_default();
                Err(secrets_exist(&folder_path, &[&key]))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `row` with a PATCH's plain settings (name, description, auto-rotation, interval, time of
/// day) applied and its schedule recomputed; parameters and the secrets mapping are the
/// caller's.
fn apply_settings(
    row: &RotationRow,
    input: &UpdateRotation,
    unit: TimeUnit,
    now: i64,
) -> RotationRow {
    let mut next = row.clone();
    if let Some(name) = &input.name {
        next.name = name.clone();
    }
    if let Some(description) = &input.description {
        next.description = description.clone();
    }
    if let Some(auto) = input.is_auto_rotation_enabled {
        next.is_auto_rotation_enabled = auto;
    }
    if let Some(interval) = input.rotation_interval {
        next.rotation_interval = interval;
    }
    if let Some((h, m)) = input.rotate_at {
        next.rotate_at_hours = h;
        next.rotate_at_minutes = m;
    }
    next.updated_at = now;
    let failed = row.rotation_status == "failed";
    next.next_rotation_at =
        schedule(&next, failed, unit).next(row.last_rotated_at, row.is_last_rotation_manual, now);
    next
}

/// The answer a lane's holder sent, or the error when it dropped the PATCH unanswered.
fn answer_of(
    outcome: std::result::Result<Result<RotationView>, tokio::sync::oneshot::error::RecvError>,
) -> Result<RotationView> {
    outcome.unwrap_or_else(|_| Err(Error::Unexpected(anyhow::anyhow!("PATCH was not answered"))))
}
