//! Reading rotations and their credentials, and checking that the published one is live.

use std::sync::Arc;

use serde_json::json;

use super::{
    check_type, failure_message, not_found_of, open_slots, GeneratedCredentials, RotationView,
    IN_PROGRESS,
};
use crate::error::{Error, Result};
use crate::providers::{Credential, RotationType};
use crate::services::audit::Event;
use crate::services::authz::{Action, Subject};
use crate::services::cache::Entry;
use crate::services::{App, Ctx};
use crate::time::now_ms;

/// A page of a list: rows to skip, and at most how many to answer.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    /// The most rows one answer holds (and the default).
    pub const MAX_LIMIT: i64 = 10_000;
}

impl App {
    /// One rotation, from the cache when it is current (no statement at all then).
    pub async fn get_rotation(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
    ) -> Result<RotationView> {
        Ok(self.get_rotation_entry(ctx, kind, id).await?.value.clone())
    }

    /// [`App::get_rotation`] as the cache holds it, so that its answer can be rendered once.
    pub async fn get_rotation_entry(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
    ) -> Result<Arc<Entry<RotationView>>> {
        let entry = self
            .cached_rotation_view(id)
            .await?
            .filter(|v| v.value.row.org_id == ctx.actor.org_id)
            .ok_or_else(|| not_found_of(kind, id))?;
        let view = &entry.value;
        self.authorize_only(
            ctx,
            &view.row.project_id,
            Subject::SecretRotation,
            Action::Read,
        )
        .await?;
        check_type(kind, &view.row)?;
        self.audit_view(ctx, view, "get-secret-rotation").await;
        Ok(entry)
    }

    pub async fn get_rotation_by_name(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        name: &str,
        project_id: &str,
        environment: &str,
        path: &str,
    ) -> Result<RotationView> {
        let project = self
            .authorize(ctx, project_id, Subject::SecretRotation, Action::Read)
            .await?;
        let loc = self.locate_in(project, environment, Some(path)).await.map_err(|_| {
            Error::bad_request(format!(
                "Could not find folder with path \"{path}\" in environment \"{environment}\" for project with ID \"{project_id}\""
            ))
        })?;
        let row = self
            .store
            .get_rotation_by_name(&loc.folder.id, name)
            .await?
            .filter(|r| r.rotation_type == kind.slug)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Could not find {} Rotation with name \"{name}\"",
                    kind.name
                ))
            })?;
        let view = self.rotation_view(row).await?;
        self.audit_view(ctx, &view, "get-secret-rotation").await;
        Ok(view)
    }

    pub async fn list_rotations(
        &self,
        ctx: &Ctx,
        project_id: &str,
        only: Option<&RotationType>,
        page: Page,
    ) -> Result<Vec<RotationView>> {
        let project = self
            .authorize(ctx, project_id, Subject::SecretRotation, Action::Read)
            .await?;
        // One statement for the whole list, however long.
        let mut out = Vec::new();
        for found in self
            .store
            .list_rotation_views(
                &project.id,
                page.offset.max(0),
                page.limit.clamp(1, Page::MAX_LIMIT),
            )
            .await?
        {
            if only.is_some_and(|kind| found.rotation.rotation_type != kind.slug) {
                continue;
            }
            out.push(self.view_of_found(found).await?);
        }
        let mut metadata = json!({"count": out.len(), "rotationIds": out.iter().map(|v| v.row.id.clone()).collect::<Vec<_>>()});
        if let Some(kind) = only {
            metadata["type"] = json!(kind.slug);
        }
        self.audit_read(
            ctx,
            Some(&project.id),
            Event::new("get-secret-rotations", metadata),
        )
        .await;
        Ok(out)
    }

    async fn audit_view(&self, ctx: &Ctx, view: &RotationView, kind: &'static str) {
        self.audit_read(
            ctx,
            Some(&view.row.project_id),
            Event::new(kind, json!({"type": view.row.rotation_type, "rotationId": view.row.id, "secretPath": view.folder_path, "environment": view.environment.slug})),
        )
        .await;
    }

    pub async fn generated_credentials(
        &self,
        ctx: &Ctx,
        kind: &RotationType,
        id: &str,
    ) -> Result<GeneratedCredentials> {
        // The row read fresh (its slots), with its folder's path and environment's slug: one
        // statement.
        let found = self
            .store
            .get_rotation_view(id)
            .await?
            .filter(|f| f.rotation.org_id == ctx.actor.org_id)
            .ok_or_else(|| not_found_of(kind, id))?;
        self.authorize(
            ctx,
            &found.rotation.project_id,
            Subject::SecretRotation,
            Action::ReadGeneratedCredentials,
        )
        .await?;
        check_type(kind, &found.rotation)?;
        let (path, env) = (found.folder_path.unwrap_or_default(), found.env_slug);
        let row = found.rotation;
        let key = self.rotation_key(&row.project_id).await?;
        let credentials = open_slots(&key, &row)?;
        self.audit(
            ctx,
            Some(&row.project_id),
            Event::new(
                "get-secret-rotation-generated-credentials",
                json!({"type": kind.slug, "rotationId": id, "secretPath": path, "environment": env}),
            ),
        )
        .await;
        Ok(GeneratedCredentials {
            credentials,
            active_index: row.active_index,
        })
    }

    /// Checks that the published token is live at the provider.
    pub async fn check_credentials(&self, ctx: &Ctx, kind: &RotationType, id: &str) -> Result<()> {
        let row = self
            .authorized_rotation(ctx, kind, id, Action::ReadGeneratedCredentials)
            .await?;
        if row.lease_owner.is_some() && row.lease_expires_at.is_some_and(|t| t > now_ms()) {
            return Err(Error::bad_request(IN_PROGRESS));
        }
        let key = self.rotation_key(&row.project_id).await?;
        let slots = open_slots(&key, &row)?;
        let active = slots
            .get(row.active_index.clamp(0, 1) as usize)
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("active slot empty")))?;
        let provider = self
            .engine
            .provider(&row.connection_id, Some(&row.parameters))
            .await
            .map_err(|e| Error::bad_request(e.message))?;
        let outcome = provider.is_live(active).await;
        let success = matches!(outcome, Ok(true));
        self.audit(
            ctx,
            Some(&row.project_id),
            Event::new("secret-rotation-check-credentials", json!({"type": kind.slug, "rotationId": id, "connectionId": row.connection_id, "folderId": row.folder_id, "success": success})),
        )
        .await;
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::bad_request(match active {
                Credential::Token(t) => format!(
                    "The active service token (tokenId {}) is not live in dbt Cloud: it was revoked or deleted",
                    t.token_id
                ),
                Credential::Login(l) => format!(
                    "The active credentials (user \"{}\") are refused by the database",
                    l.username
                ),
            })),
            Err(e) => Err(Error::bad_request(failure_message(&e.message))),
        }
    }
}
