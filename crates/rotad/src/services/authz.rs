//! Project roles and what they allow.
//!
//! Organization admins act as project admins everywhere in their organization. Other identities
//! need a membership: `admin` may do everything; `member` everything except reading generated
//! rotation credentials and managing members; `viewer` reads; `no-access` nothing.

use std::fmt;

use super::{App, Ctx};
use crate::error::{Error, Result};
use crate::store::Project;

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
    Secrets,
    SecretFolders,
    SecretRotation,
    AppConnections,
    Identity,
    AuditLogs,
    Webhooks,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::Project => "workspace",
            Subject::Secrets => "secrets",
            Subject::SecretFolders => "secret-folders",
            Subject::SecretRotation => "secret-rotation",
            Subject::AppConnections => "app-connections",
            Subject::Identity => "identity",
            Subject::AuditLogs => "audit-logs",
            Subject::Webhooks => "webhooks",
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
            _ => true,
        },
        Role::Viewer => action == Action::Read && subject != Subject::AuditLogs,
        Role::NoAccess => false,
    }
}

pub fn denied(subject: Subject, action: Action) -> Error {
    Error::forbidden(format!("You are not allowed to {action} on {subject}"))
}

impl App {
    /// The caller's role in a project (org admins are project admins).
    pub async fn project_role(&self, ctx: &Ctx, project: &Project) -> Result<Role> {
        if project.org_id != ctx.actor.org_id {
            return Ok(Role::NoAccess);
        }
        if ctx.actor.is_org_admin() {
            return Ok(Role::Admin);
        }
        Ok(self
            .store
            .get_membership(&project.id, &ctx.actor.identity_id)
            .await?
            .and_then(|m| Role::parse(&m.role))
            .unwrap_or(Role::NoAccess))
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
        let project = self
            .store
            .get_project(project_id)
            .await?
            .filter(|p| p.org_id == ctx.actor.org_id)
            .ok_or_else(|| Error::not_found(format!("Project with ID '{project_id}' not found")))?;
        let role = self.project_role(ctx, &project).await?;
        if allows(role, subject, action) {
            Ok(project)
        } else {
            Err(denied(subject, action))
        }
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
    }
}
