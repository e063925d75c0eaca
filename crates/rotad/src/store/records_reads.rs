//! Rows of the read path's joined queries: what one request needs, in one statement.

use sqlx::FromRow;

use super::{AccessToken, Environment, Identity, Membership, Project, RotationRow};

/// An access token with its identity and that identity's `accessTokenTrustedIps`.
#[derive(Debug, Clone, FromRow)]
pub struct TokenContextRow {
    #[sqlx(flatten)]
    pub token: AccessToken,
    pub identity_org_id: String,
    pub identity_name: String,
    pub identity_org_role: String,
    pub identity_created_at: i64,
    pub identity_updated_at: i64,
    /// `None` when the identity has no universal auth.
    pub access_token_trusted_ips: Option<String>,
}

impl TokenContextRow {
    pub fn identity(&self) -> Identity {
        Identity {
            id: self.token.identity_id.clone(),
            org_id: self.identity_org_id.clone(),
            name: self.identity_name.clone(),
            org_role: self.identity_org_role.clone(),
            created_at: self.identity_created_at,
            updated_at: self.identity_updated_at,
        }
    }
}

/// A project and one identity's membership in it, if any.
#[derive(Debug, Clone, FromRow)]
pub struct ProjectAccessRow {
    #[sqlx(flatten)]
    pub project: Project,
    pub member_id: Option<String>,
    pub member_identity_id: Option<String>,
    pub member_role: Option<String>,
    pub member_created_at: Option<i64>,
    pub member_updated_at: Option<i64>,
    pub member_roles: Option<String>,
}

impl ProjectAccessRow {
    pub fn membership(&self) -> Option<Membership> {
        Some(Membership {
            id: self.member_id.clone()?,
            project_id: self.project.id.clone(),
            identity_id: self.member_identity_id.clone()?,
            role: self.member_role.clone()?,
            created_at: self.member_created_at?,
            updated_at: self.member_updated_at?,
            roles: self
                .member_roles
                .clone()
                .unwrap_or_else(|| "[]".to_string()),
        })
    }
}

/// A rotation with what its view shows of its environment, folder and connection.
#[derive(Debug, Clone, FromRow)]
pub struct RotationViewRow {
    #[sqlx(flatten)]
    pub rotation: RotationRow,
    pub env_name: String,
    pub env_slug: String,
    pub env_position: i64,
    pub env_created_at: i64,
    pub env_updated_at: i64,
    pub folder_path: Option<String>,
    pub connection_name: Option<String>,
}

impl RotationViewRow {
    pub fn environment(&self) -> Environment {
        Environment {
            id: self.rotation.env_id.clone(),
            project_id: self.rotation.project_id.clone(),
            name: self.env_name.clone(),
            slug: self.env_slug.clone(),
            position: self.env_position,
            created_at: self.env_created_at,
            updated_at: self.env_updated_at,
        }
    }
}

/// A project's rotations counted by health (`ReadStore::count_rotation_health`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct RotationCounts {
    pub total: i64,
    pub failing: i64,
    pub due: i64,
}
