//! Who may see and use which connection (docs/SECURITY.md, "App connections").
//!
//! - An organization's connections: read by org admins and org members, written by org admins;
//!   used by a rotation only when the caller's org role is admin or member.
//! - A project's connections: read, written and used by that project's roles only (org admins
//!   are project admins everywhere); anyone else is told the project does not exist.
//! - Whoever uses a connection may grant the tokens it mints only the permission sets the
//!   connection allows: by default every set but the account-wide admin ones.

use std::collections::HashMap;

use super::{not_found, AppConnection};
use crate::error::{Error, Result};
use crate::providers::dbt::{Grant, PERMISSION_SETS};
use crate::services::authz::{allows, denied, Action, Role, Subject};
use crate::services::{App, Ctx};
use crate::store::{AppConnectionRow, Project};

/// The permission sets a connection does not hand out unless an org admin allows them: each
/// makes the minted token an account administrator.
pub const ADMIN_PERMISSION_SETS: [&str; 4] =
    ["owner", "account_admin", "security_admin", "billing_admin"];

fn use_denied() -> Error {
    Error::forbidden("You are not allowed to connect on app-connections")
}

impl App {
    /// The projects of these connections (those of a project), by id, for answers that name
    /// them.
    pub async fn connection_projects(
        &self,
        connections: &[AppConnection],
    ) -> Result<HashMap<String, Project>> {
        let mut projects = HashMap::new();
        for id in connections.iter().filter_map(|c| c.project_id.as_deref()) {
            if projects.contains_key(id) {
                continue;
            }
            if let Some(project) = self.store.get_project(id).await? {
                projects.insert(id.to_string(), project);
            }
        }
        Ok(projects)
    }

    /// The caller may do `action` on connections of the organization (`project_id` `None`), by
    /// its org role, or of a project, by its role in that project. 404 for a project the caller
    /// has no role in.
    pub(super) async fn authorize_connections(
        &self,
        ctx: &Ctx,
        project_id: Option<&str>,
        action: Action,
    ) -> Result<()> {
        let Some(project_id) = project_id else {
            return self.authorize_org(ctx, Subject::AppConnections, action);
        };
        let role = self.role_in(ctx, project_id).await?;
        if allows(role, Subject::AppConnections, action) {
            Ok(())
        } else {
            Err(denied(Subject::AppConnections, action))
        }
    }

    /// As [`App::authorize_connections`] for one connection: a project connection of a project
    /// the caller has no role in does not exist for the caller (404).
    pub(super) async fn authorize_row(
        &self,
        ctx: &Ctx,
        row: &AppConnectionRow,
        action: Action,
    ) -> Result<()> {
        match self
            .authorize_connections(ctx, row.project_id.as_deref(), action)
            .await
        {
            Err(Error::NotFound(_)) => Err(not_found(&row.id)),
            other => other,
        }
    }

    /// The caller's role in a project of its organization; 404 when it has none.
    async fn role_in(&self, ctx: &Ctx, project_id: &str) -> Result<Role> {
        let missing = || Error::not_found(format!("Project with ID '{project_id}' not found"));
        let project = self
            .store
            .get_project(project_id)
            .await?
            .filter(|p| p.org_id == ctx.actor.org_id)
            .ok_or_else(missing)?;
        match self.project_role(ctx, &project).await? {
            Role::NoAccess => Err(missing()),
            role => Ok(role),
        }
    }

    /// Whether the caller may connect (use a connection) in `project_id`: project admins and
    /// members may (upstream's `connect` on app connections), viewers may not.
    pub(super) async fn authorize_use(&self, ctx: &Ctx, project_id: &str) -> Result<()> {
        let role = self.role_in(ctx, project_id).await?;
        if allows(role, Subject::AppConnections, Action::Create) {
            Ok(())
        } else {
            Err(use_denied())
        }
    }

    /// Whether the caller may use the organization's connections: org admins and members.
    fn may_use_org_connections(&self, ctx: &Ctx) -> bool {
        self.authorize_org(ctx, Subject::AppConnections, Action::Read)
            .is_ok()
    }

    /// Connections the caller may use: the organization's (org admins and members), and a
    /// project's when one is named (its admins and members).
    pub async fn available_connections(
        &self,
        ctx: &Ctx,
        project_id: Option<&str>,
    ) -> Result<Vec<AppConnection>> {
        let project_id = project_id.map(str::trim).filter(|p| !p.is_empty());
        let org_user = self.may_use_org_connections(ctx);
        match project_id {
            None if !org_user => return Err(denied(Subject::AppConnections, Action::Read)),
            None => {}
            Some(p) => self.authorize_use(ctx, p).await?,
        }
        let mut rows = Vec::new();
        if org_user {
            rows.extend(self.store.list_connections(&ctx.actor.org_id, None).await?);
        }
        if let Some(project_id) = project_id {
            rows.extend(
                self.store
                    .list_connections(&ctx.actor.org_id, Some(project_id))
                    .await?,
            );
        }
        self.open_rows(&ctx.actor.org_id, rows).await
    }

    /// The connection a rotation in `project_id` may use: it exists in the caller's
    /// organization (404), is a dbt connection (400), belongs to the organization or to that
    /// project (400), and the caller may use it (403): an organization's connection by org
    /// role admin or member, a project's by project role admin or member.
    pub async fn usable_connection(
        &self,
        ctx: &Ctx,
        connection_id: &str,
        project_id: &str,
        app: &str,
    ) -> Result<AppConnection> {
        let row = self.connection_row(ctx, connection_id).await?;
        if row.app != app {
            return Err(Error::bad_request(format!(
                "{} Connection with ID {} cannot be used to connect to {}",
                super::app_name(&row.app),
                row.id,
                super::app_name(app)
            )));
        }
        match row.project_id.as_deref() {
            Some(owner) if owner != project_id => {
                return Err(Error::bad_request(format!(
                    "You cannot connect project App Connection with ID \"{}\" from project with \
                     ID \"{owner}\" to project with ID \"{project_id}\"",
                    row.id
                )))
            }
            Some(_) => self.authorize_use(ctx, project_id).await?,
            None if self.may_use_org_connections(ctx) => {}
            None => {
                return Err(Error::forbidden(
                    "You are not allowed to connect on app-connections: using an organization \
                     App Connection requires the organization role admin or member",
                ))
            }
        }
        self.open_row(row).await
    }
}

/// The permission sets a connection hands out: its stored list, or the default one.
pub(super) fn allowed_sets(stored: Option<&str>) -> Vec<String> {
    stored
        .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
        .unwrap_or_else(|| {
            PERMISSION_SETS
                .iter()
                .filter(|s| !ADMIN_PERMISSION_SETS.contains(s))
                .map(|s| s.to_string())
                .collect()
        })
}

impl App {
    /// The stored form of a connection's permission sets (`None` for the default); only an org
    /// admin may hand out an admin set (403 naming it).
    pub(super) fn stored_sets(&self, ctx: &Ctx, sets: Option<&[String]>) -> Result<Option<String>> {
        let Some(sets) = sets else {
            return Ok(None);
        };
        if !ctx.actor.is_org_admin() {
            if let Some(set) = sets
                .iter()
                .find(|s| ADMIN_PERMISSION_SETS.contains(&s.as_str()))
            {
                return Err(Error::forbidden(format!(
                    "Only an organization admin may let an App Connection grant the permission \
                     set \"{set}\""
                )));
            }
        }
        let mut sets = sets.to_vec();
        sets.sort();
        sets.dedup();
        serde_json::to_string(&sets)
            .map(Some)
            .map_err(|e| Error::Unexpected(e.into()))
    }
}

/// Refuses grants of permission sets the connection does not hand out (403 naming the set).
pub fn check_grants(connection: &AppConnection, grants: &[Grant]) -> Result<()> {
    match grants.iter().find(|g| {
        !connection
            .allowed_permission_sets
            .contains(&g.permission_set)
    }) {
        Some(g) => Err(Error::forbidden(format!(
            "App Connection \"{}\" may not grant the permission set \"{}\"{}",
            connection.name,
            g.permission_set,
            if ADMIN_PERMISSION_SETS.contains(&g.permission_set.as_str()) {
                ": it makes the token an account administrator; an organization admin may \
                 allow it on the connection (allowedPermissionSets)"
            } else {
                " (see its allowedPermissionSets)"
            }
        ))),
        None => Ok(()),
    }
}
