//! Project roles and what they allow.
//!
//! Organization admins act as project admins everywhere in their organization. Other identities
//! need a membership: `admin` may do everything; `member` everything except reading generated
//! rotation credentials and managing members; `viewer` reads; `no-access` nothing.

use std::fmt;
use std::sync::Arc;

use super::cache::{Entry, Pair, ProjectAccess};
use super::{App, Ctx};
use crate::error::{Error, Result};
use crate::store::changes::scope;
use serde::{Deserialize, Serialize};

use crate::store::{Membership, Project};
use crate::time::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
    Viewer,
    NoAccess,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            "no-access" => Some(Role::NoAccess),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
            Role::NoAccess => "no-access",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Edit,
    Delete,
    ReadGeneratedCredentials,
    RotateSecrets,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::ReadGeneratedCredentials => "read-generated-credentials",
            Action::RotateSecrets => "rotate-secrets",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Project,
    /// A project's environments: project admins manage them (docs/COMPATIBILITY.md).
    Environments,
    Secrets,
    SecretFolders,
    SecretRotation,
    AppConnections,
    Identity,
    AuditLogs,
    Webhooks,
    Tags,
    SecretImports,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Project => "workspace",
            Subject::Environments => "environments",
            Subject::Secrets => "secrets",
            Subject::SecretFolders => "secret-folders",
            Subject::SecretRotation => "secret-rotation",
            Subject::AppConnections => "app-connections",
            Subject::Identity => "identity",
            Subject::AuditLogs => "audit-logs",
            Subject::Webhooks => "webhooks",
            Subject::Tags => "tags",
            Subject::SecretImports => "secret-imports",
        })
    }
}

/// Whether `role` may perform `action` on `subject`.
pub fn allows(role: Role, subject: Subject, action: Action) -> bool {
    match role {
        Role::Admin => true,
        Role::Member => match subject {
            Subject::SecretRotation => action != Action::ReadGeneratedCredentials,
            Subject::Identity | Subject::AuditLogs => action == Action::Read,
            Subject::Project => matches!(action, Action::Read | Action::Edit),
            Subject::Environments => action == Action::Read,
            _ => true,
        },
        Role::Viewer => action == Action::Read && subject != Subject::AuditLogs,
        Role::NoAccess => false,
    }
}

/// One role of a membership: permanent, or temporary from its start for its range.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberRole {
    pub role: String,
    #[serde(default)]
    pub is_temporary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_range: Option<String>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_access_start_time: Option<i64>,
    /// Milliseconds: start plus range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_access_end_time: Option<i64>,
}

impl MemberRole {
    /// Whether the role holds at `now`: always for a permanent one, between start and end for
    /// a temporary one.
    pub fn holds(&self, now: i64) -> bool {
        !self.is_temporary
            || (self.temporary_access_start_time.is_some_and(|s| s <= now)
                && self.temporary_access_end_time.is_some_and(|e| now < e))
    }
}

/// How much a role allows, for picking the strongest of several.
fn rank(role: Role) -> u8 {
    match role {
        Role::Admin => 3,
        Role::Member => 2,
        Role::Viewer => 1,
        Role::NoAccess => 0,
    }
}

/// The strongest role of a membership that holds at `now` (docs/SECURITY.md, "Roles");
/// `no-access` when every role has lapsed.
pub fn effective_role(membership: &Membership, now: i64) -> Role {
    let roles: Vec<MemberRole> = serde_json::from_str(&membership.roles).unwrap_or_default();
    if roles.is_empty() {
        return Role::parse(&membership.role).unwrap_or(Role::NoAccess);
    }
    roles
        .iter()
        .filter(|r| r.holds(now))
        .filter_map(|r| Role::parse(&r.role))
        .max_by_key(|r| rank(*r))
        .unwrap_or(Role::NoAccess)
}

/// Parses a relative range as upstream writes it: a number and a unit (`s`, `m`, `h`, `d`,
/// `w`), e.g. `1h` or `30d`; milliseconds, or `None`.
pub fn parse_range(range: &str) -> Option<i64> {
    let range = range.trim();
    let split = range.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = range.split_at(split);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_ms = match unit.trim() {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    number.checked_mul(unit_ms)
}

pub fn denied(subject: Subject, action: Action) -> Error {
    Error::forbidden(format!("You are not allowed to {action} on {subject}"))
}

/// The caller's role given the project and its membership (org admins are project admins).
fn role_in(ctx: &Ctx, access: &ProjectAccess) -> Role {
    if access.project.org_id != ctx.actor.org_id {
        return Role::NoAccess;
    }
    if ctx.actor.is_org_admin() {
        return Role::Admin;
    }
    access
        .membership
        .as_ref()
        .map(|m| effective_role(m, now_ms()))
        .unwrap_or(Role::NoAccess)
}

impl App {
    /// The project and the caller's membership in it, cached (docs/ARCHITECTURE.md,
    /// "Caches"); one statement on a miss. Temporary roles are judged at each use, so one
    /// that lapses stops counting at once.
    pub(crate) async fn project_access(
        &self,
        ctx: &Ctx,
        project_id: &str,
    ) -> Result<Option<Arc<Entry<ProjectAccess>>>> {
        let shelf = &self.caches.access;
        if let Some(hit) = shelf.get(&Pair(project_id, &ctx.actor.identity_id)) {
            return Ok(Some(hit));
        }
        let key = (project_id.to_string(), ctx.actor.identity_id.clone());
        let at = shelf.snapshot();
        let Some(row) = self
            .store
            .get_project_access(project_id, &ctx.actor.identity_id)
            .await?
        else {
            return Ok(None);
        };
        let access = ProjectAccess {
            membership: row.membership(),
            project: row.project,
        };
        let scopes = vec![
            scope::project(project_id),
            scope::identity(&ctx.actor.identity_id),
        ];
        let bytes = 256 + access.membership.as_ref().map_or(0, |m| m.roles.len());
        Ok(Some(shelf.put(key, access, scopes, at, bytes)))
    }

    /// The caller's role in a project (org admins are project admins).
    pub async fn project_role(&self, ctx: &Ctx, project: &Project) -> Result<Role> {
        if project.org_id != ctx.actor.org_id {
            return Ok(Role::NoAccess);
        }
        if ctx.actor.is_org_admin() {
            return Ok(Role::Admin);
        }
        Ok(self
            .project_access(ctx, &project.id)
            .await?
            .map(|a| role_in(ctx, &a.value))
            .unwrap_or(Role::NoAccess))
    }

    /// [`App::authorize`] without copying the project.
    pub async fn authorize_only(
        &self,
        ctx: &Ctx,
        project_id: &str,
        subject: Subject,
        action: Action,
    ) -> Result<()> {
        self.authorized_access(ctx, project_id, subject, action)
            .await
            .map(|_| ())
    }

    /// The cached project and membership, once the caller is known to be allowed.
    pub(crate) async fn authorized_access(
        &self,
        ctx: &Ctx,
        project_id: &str,
        subject: Subject,
        action: Action,
    ) -> Result<Arc<Entry<ProjectAccess>>> {
        let access = self
            .project_access(ctx, project_id)
            .await?
            .filter(|a| a.value.project.org_id == ctx.actor.org_id)
            .ok_or_else(|| Error::not_found(format!("Project with ID '{project_id}' not found")))?;
        if allows(role_in(ctx, &access.value), subject, action) {
            Ok(access)
        } else {
            Err(denied(subject, action))
        }
    }

    /// Loads the project and checks the caller may do `action` on `subject` in it:
    /// 404 for an unknown project, 403 when not allowed.
    pub async fn authorize(
        &self,
        ctx: &Ctx,
        project_id: &str,
        subject: Subject,
        action: Action,
    ) -> Result<Project> {
        let access = self
            .authorized_access(ctx, project_id, subject, action)
            .await?;
        Ok(access.value.project.clone())
    }

    /// Organization-level actions (managing identities, reading the whole audit log).
    pub fn authorize_org(&self, ctx: &Ctx, subject: Subject, action: Action) -> Result<()> {
        let allowed = match ctx.actor.org_role.as_str() {
            "admin" => true,
            "member" => action == Action::Read && subject != Subject::AuditLogs,
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(denied(subject, action))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use Action::*;
        use Subject::*;
        assert!(allows(
            Role::Admin,
            SecretRotation,
            ReadGeneratedCredentials
        ));
        assert!(!allows(
            Role::Member,
            SecretRotation,
            ReadGeneratedCredentials
        ));
        assert!(allows(Role::Member, SecretRotation, RotateSecrets));
        assert!(allows(Role::Member, Secrets, Delete));
        assert!(allows(Role::Viewer, Secrets, Read));
        assert!(!allows(Role::Viewer, Secrets, Create));
        assert!(!allows(Role::NoAccess, Secrets, Read));
        assert!(allows(Role::Admin, Environments, Delete));
        assert!(!allows(Role::Member, Environments, Create));
        assert!(allows(Role::Member, Environments, Read));
    }
}
