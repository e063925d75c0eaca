//! The dashboard's view of a project's rotations: counts by health and one page of the rows,
//! failing first, both answered by the store (docs/ARCHITECTURE.md, "Dashboard").

use serde_json::json;

use super::RotationView;
use crate::error::Result;
use crate::services::audit::Event;
use crate::services::authz::{Action, Subject};
use crate::services::{App, Ctx};

/// How far ahead a rotation counts as due.
pub const DUE_WITHIN_MS: i64 = 86_400_000;

/// A project's rotations by health: the counts, and the page asked for.
#[derive(Debug, Clone)]
pub struct RotationHealth {
    pub total: usize,
    pub failing: usize,
    /// Auto-rotating at or before `now + DUE_WITHIN_MS`.
    pub due: usize,
    /// The page shown, 1-based: the one asked for, or the last one when it asked past the end.
    pub page: usize,
    pub pages: usize,
    /// The page's rows: failed first, then those an executor holds at `now`, then by next
    /// rotation (unscheduled last) and name.
    pub rows: Vec<RotationView>,
}

impl App {
    /// Page `page` (1-based, `page_size` rows) of a project's rotations by health, as at
    /// `now`. Authorized as the API's list (`list_rotations`) and audited like it, with the ids
    /// of the rows shown only. Two statements, whatever the project's size.
    pub async fn rotation_health(
        &self,
        ctx: &Ctx,
        project_id: &str,
        page: usize,
        page_size: usize,
        now: i64,
    ) -> Result<RotationHealth> {
        let project = self
            .authorize(ctx, project_id, Subject::SecretRotation, Action::Read)
            .await?;
        let counts = self
            .store
            .count_rotation_health(&project.id, now, now.saturating_add(DUE_WITHIN_MS))
            .await?;
        let total = usize::try_from(counts.total).unwrap_or(0);
        let page_size = page_size.max(1);
        let pages = total.div_ceil(page_size).max(1);
        let page = page.clamp(1, pages);
        let mut rows = Vec::new();
        if total > 0 {
            let size = i64::try_from(page_size).unwrap_or(i64::MAX);
            let offset = i64::try_from(page - 1).unwrap_or(0).saturating_mul(size);
            for found in self
                .store
                .list_rotation_views_by_health(&project.id, now, offset, size)
                .await?
            {
                rows.push(self.view_of_found(found).await?);
            }
        }
        let ids: Vec<&str> = rows.iter().map(|v| v.row.id.as_str()).collect();
        self.audit_read(
            ctx,
            Some(&project.id),
            Event::new(
                "get-secret-rotations",
                json!({"count": ids.len(), "rotationIds": ids}),
            ),
        )
        .await;
        Ok(RotationHealth {
            total,
            failing: usize::try_from(counts.failing).unwrap_or(0),
            due: usize::try_from(counts.due).unwrap_or(0),
            page,
            pages,
            rows,
        })
    }
}
