//! Project memberships of machine identities.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Validate};
use crate::services::authz::Role;
use crate::services::AppState;
use crate::store::Membership;
use crate::time::rfc3339;

use super::identities::unsupported;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add_membership, get_membership, remove_membership))
}

/// One role of a membership. Temporary roles are not enforced by rotad: `isTemporary: true`
/// and the `temporary*` fields are refused (422 naming them).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleIn {
    role: String,
    is_temporary: Option<bool>,
    temporary_mode: Option<serde_json::Value>,
    temporary_range: Option<serde_json::Value>,
    temporary_access_start_time: Option<serde_json::Value>,
}

/// `roles` (one role: rotad gives a membership exactly one) or the older single `role`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MembershipIn {
    #[schema(max_items = 1)]
    roles: Option<Vec<RoleIn>>,
    /// The older single-role form.
    role: Option<String>,
}

const ROLE_SLUGS: &str = "Role must be one of admin, member, viewer, no-access";

impl Validate for MembershipIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let roles = self.roles.as_deref().unwrap_or_default();
        if self.role.is_none() && roles.is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["roles"],
                "At least one role is required",
            ));
        }
        if roles.len() > 1 {
            issues.push(unsupported(
                &["roles"],
                "A membership has exactly one role in rotad: send one",
            ));
        }
        if let Some(role) = &self.role {
            if Role::parse(role.trim()).is_none() {
                issues.push(Issue::new("invalid_enum_value", &["role"], ROLE_SLUGS));
            } else if roles.first().is_some_and(|r| r.role.trim() != role.trim()) {
                issues.push(Issue::new(
                    "custom",
                    &["role"],
                    "role and roles name different roles: send one of them",
                ));
            }
        }
        for (i, r) in roles.iter().enumerate() {
            let index = i.to_string();
            if Role::parse(r.role.trim()).is_none() {
                issues.push(Issue::new(
                    "invalid_enum_value",
                    &["roles", &index, "role"],
                    ROLE_SLUGS,
                ));
            }
            if r.is_temporary == Some(true) {
                issues.push(unsupported(
                    &["roles", &index, "isTemporary"],
                    "Temporary roles are not supported by rotad: omit isTemporary or send false",
                ));
            }
            for (field, value) in [
                ("temporaryMode", &r.temporary_mode),
                ("temporaryRange", &r.temporary_range),
                ("temporaryAccessStartTime", &r.temporary_access_start_time),
            ] {
                if value.is_some() {
                    issues.push(unsupported(
                        &["roles", &index, field],
                        &format!("{field} is not supported by rotad (no temporary roles)"),
                    ));
                }
            }
        }
        issues
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoleOut {
    role: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipOut {
    id: String,
    identity_id: String,
    project_id: String,
    roles: Vec<RoleOut>,
    created_at: String,
    updated_at: String,
}

impl From<Membership> for MembershipOut {
    fn from(m: Membership) -> Self {
        Self {
            id: m.id,
            identity_id: m.identity_id,
            project_id: m.project_id,
            roles: vec![RoleOut { role: m.role }],
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipResponse {
    identity_membership: MembershipOut,
}

/// Adds an identity to a project with a role (`admin`, `member`, `viewer`, `no-access`).
#[utoipa::path(post, path = "/api/v1/projects/{projectId}/memberships/identities/{identityId}", tag = "Projects",
    params(("projectId" = String, Path), ("identityId" = String, Path)), request_body = MembershipIn,
    responses((status = 200, body = MembershipResponse)), security(("bearer" = [])))]
async fn add_membership(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, identity_id)): Path<(String, String)>,
    Body(input): Body<MembershipIn>,
) -> Result<Json<MembershipResponse>> {
    let identity_id = uuid_param("identityId", &identity_id)?;
    let role = input
        .roles
        .and_then(|r| r.into_iter().next().map(|r| r.role))
        .or(input.role)
        .unwrap_or_default()
        .trim()
        .to_string();
    let m = app
        .set_membership(&ctx, &project_id, &identity_id, &role)
        .await?;
    Ok(Json(MembershipResponse {
        identity_membership: m.into(),
    }))
}

/// Reads an identity's membership of a project.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/memberships/identities/{identityId}", tag = "Projects",
    params(("projectId" = String, Path), ("identityId" = String, Path)),
    responses((status = 200, body = MembershipResponse)), security(("bearer" = [])))]
async fn get_membership(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, identity_id)): Path<(String, String)>,
) -> Result<Json<MembershipResponse>> {
    let m = app.get_membership(&ctx, &project_id, &identity_id).await?;
    Ok(Json(MembershipResponse {
        identity_membership: m.into(),
    }))
}

/// Removes an identity from a project.
#[utoipa::path(delete, path = "/api/v1/projects/{projectId}/memberships/identities/{identityId}", tag = "Projects",
    params(("projectId" = String, Path), ("identityId" = String, Path)),
    responses((status = 200, body = MembershipResponse)), security(("bearer" = [])))]
async fn remove_membership(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, identity_id)): Path<(String, String)>,
) -> Result<Json<MembershipResponse>> {
    let m = app
        .remove_membership(&ctx, &project_id, &identity_id)
        .await?;
    Ok(Json(MembershipResponse {
        identity_membership: m.into(),
    }))
}
