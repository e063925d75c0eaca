//! The create and update sequences every app connection goes through, whatever its app: the
//! field checks, the permission, a free name, then (between the two halves, each app's own)
//! the credentials' probe and seal, then the write and its audit entry.

use serde_json::json;

use super::model::{description_issues, name_issues};
use super::{name_taken, AppConnection};
use crate::crypto::DataKey;
use crate::error::{Error, Issue, Result};
use crate::services::authz::Action;
use crate::services::{new_id, App, Ctx};
use crate::store::{AppConnectionRow, StoreError};
use crate::time::now_ms;

/// A new connection's fields, as requests send them.
pub(super) struct NewFields<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub project_id: Option<&'a str>,
}

/// A new connection admitted to be written: its row without credentials yet.
pub(super) struct Admitted {
    pub row: AppConnectionRow,
    pub key: DataKey,
}

/// An update under way: the row as it is, the row as it will be, the organization's key.
pub(super) struct Updating {
    pub row: AppConnectionRow,
    pub next: AppConnectionRow,
    pub key: DataKey,
}

fn trimmed(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

impl App {
    /// Create's first half: the fields' issues (with the app's own `issues`), the permission
    /// and a free name. The row it returns has no credentials yet.
    pub(super) async fn admit_connection(
        &self,
        ctx: &Ctx,
        fields: NewFields<'_>,
        issues: Vec<Issue>,
        app: &str,
        method: &str,
    ) -> Result<Admitted> {
        let mut all = name_issues(fields.name);
        all.extend(description_issues(fields.description));
        all.extend(issues);
        if !all.is_empty() {
            return Err(Error::Validation(all));
        }
        let project_id = trimmed(fields.project_id);
        self.authorize_connections(ctx, project_id.as_deref(), Action::Create)
            .await?;
        let name = fields.name.trim().to_string();
        if self
            .store
            .get_connection_by_name(&ctx.actor.org_id, &name)
            .await?
            .is_some()
        {
            return Err(name_taken(&name));
        }
        let now = now_ms();
        let key = self.org_key(&ctx.actor.org_id).await?;
        let row = AppConnectionRow {
            credentials: Vec::new(),
            id: new_id(),
            org_id: ctx.actor.org_id.clone(),
            project_id,
            name,
            description: trimmed(fields.description),
            app: app.to_string(),
            method: method.to_string(),
            version: 1,
            created_at: now,
            updated_at: now,
            allowed_permission_sets: None,
        };
        Ok(Admitted { row, key })
    }

    /// Create's second half: writes the row (its credentials sealed by now) and audits it.
    pub(super) async fn insert_connection(
        &self,
        ctx: &Ctx,
        admitted: Admitted,
    ) -> Result<AppConnection> {
        let Admitted { row, key } = admitted;
        match self.store.create_connection(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(name_taken(&row.name)),
            Err(e) => return Err(e.into()),
        }
        let connection = self.open_connection(&key, row)?;
        self.audit_connection(ctx, "create-app-connection", &connection, json!({}))
            .await;
        Ok(connection)
    }

    /// Update's first half: the fields' issues (with the app's own), the row (of `app` when
    /// given), the permission, a free name; the new name and description applied.
    pub(super) async fn begin_update(
        &self,
        ctx: &Ctx,
        id: &str,
        name: Option<String>,
        description: Option<Option<String>>,
        issues: Vec<Issue>,
        app: Option<&str>,
    ) -> Result<Updating> {
        let mut all = Vec::new();
        if let Some(name) = &name {
            all.extend(name_issues(name));
        }
        if let Some(description) = &description {
            all.extend(description_issues(description.as_deref()));
        }
        all.extend(issues);
        if !all.is_empty() {
            return Err(Error::Validation(all));
        }
        let row = match app {
            Some(app) => self.sql_connection_row(ctx, app, id).await?,
            None => self.connection_row(ctx, id).await?,
        };
        self.authorize_row(ctx, &row, Action::Edit).await?;
        let key = self.org_key(&row.org_id).await?;
        let mut next = row.clone();
        if let Some(name) = name.map(|n| n.trim().to_string()) {
            if name != row.name
                && self
                    .store
                    .get_connection_by_name(&row.org_id, &name)
                    .await?
                    .is_some()
            {
                return Err(name_taken(&name));
            }
            next.name = name;
        }
        if let Some(description) = description {
            next.description = trimmed(description.as_deref());
        }
        Ok(Updating { row, next, key })
    }

    /// Update's second half: writes the next version (a conflict is a taken name or a
    /// concurrent change) and audits it.
    pub(super) async fn finish_update(
        &self,
        ctx: &Ctx,
        updating: Updating,
        credentials_updated: bool,
    ) -> Result<AppConnection> {
        let Updating { row, mut next, key } = updating;
        next.version = row.version + 1;
        next.updated_at = now_ms();
        match self.store.update_connection(&next, row.version).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                let taken = self
                    .store
                    .get_connection_by_name(&row.org_id, &next.name)
                    .await?
                    .is_some_and(|other| other.id != row.id);
                return Err(if taken {
                    name_taken(&next.name)
                } else {
                    Error::bad_request(
                        "The App Connection was changed by another request; read it again and retry",
                    )
                });
            }
            Err(e) => return Err(e.into()),
        }
        let connection = self.open_connection(&key, next)?;
        self.audit_connection(
            ctx,
            "update-app-connection",
            &connection,
            json!({"credentialsUpdated": credentials_updated}),
        )
        .await;
        Ok(connection)
    }
}
