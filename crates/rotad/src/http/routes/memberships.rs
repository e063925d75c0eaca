//! Project memberships of machine identities.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Validate};
use crate::services::authz::{parse_range, MemberRole, Role};
use crate::services::{App, AppState};
use crate::store::Membership;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            add_membership,
            get_membership,
            update_membership,
            remove_membership
        ))
        .merge(super::membership_list::router())
}

/// One role of a membership: permanent, or temporary (`temporaryMode: "relative"`, a
/// `temporaryRange` like `1h` or `30d` from `temporaryAccessStartTime`); a temporary role lapses
/// at start + range (docs/SECURITY.md, "Roles").
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleIn {
    role: String,
    is_temporary: Option<bool>,
    temporary_mode: Option<String>,
    temporary_range: Option<String>,
    temporary_access_start_time: Option<String>,
}

/// `roles` (one or more, each kept with its own expiry) or the older single `role`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MembershipIn {
    roles: Option<Vec<RoleIn>>,
    /// The older single-role form: one permanent role.
    role: Option<String>,
}

const ROLE_SLUGS: &str = "Role must be one of admin, member, viewer, no-access";
/// Roles one membership may hold.
const MAX_ROLES: usize = 16;

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
        if roles.len() > MAX_ROLES {
            issues.push(Issue::new(
                "too_big",
                &["roles"],
                format!("At most {MAX_ROLES} roles"),
            ));
        }
        if let Some(role) = &self.role {
            if Role::parse(role.trim()).is_none() {
                issues.push(Issue::new("invalid_enum_value", &["role"], ROLE_SLUGS));
            } else if !roles.is_empty() {
                issues.push(Issue::new(
                    "custom",
                    &["role"],
                    "Send role or roles, not both",
                ));
            }
        }
        role_issues(roles, &mut issues);
        issues
    }
}

/// The rules of each role, on create and on update.
fn role_issues(roles: &[RoleIn], issues: &mut Vec<Issue>) {
    for (i, r) in roles.iter().enumerate() {
        let index = i.to_string();
        if Role::parse(r.role.trim()).is_none() {
            issues.push(Issue::new(
                "invalid_enum_value",
                &["roles", &index, "role"],
                ROLE_SLUGS,
            ));
        }
        if r.is_temporary != Some(true) {
            for (field, present) in [
                ("temporaryMode", r.temporary_mode.is_some()),
                ("temporaryRange", r.temporary_range.is_some()),
                (
                    "temporaryAccessStartTime",
                    r.temporary_access_start_time.is_some(),
                ),
            ] {
                if present {
                    issues.push(Issue::new(
                        "custom",
                        &["roles", &index, field],
                        format!("{field} applies to a temporary role (isTemporary: true)"),
                    ));
                }
            }
            continue;
        }
        if r.temporary_mode.as_deref() != Some("relative") {
            issues.push(Issue::new(
                "invalid_enum_value",
                &["roles", &index, "temporaryMode"],
                "temporaryMode must be relative",
            ));
        }
        if r.temporary_range.as_deref().and_then(parse_range).is_none() {
            issues.push(Issue::new(
                "custom",
                &["roles", &index, "temporaryRange"],
                "temporaryRange must be a duration like 30m, 1h or 7d",
            ));
        }
        if r.temporary_access_start_time
            .as_deref()
            .and_then(crate::time::parse)
            .is_none()
        {
            issues.push(Issue::new(
                "custom",
                &["roles", &index, "temporaryAccessStartTime"],
                "temporaryAccessStartTime must be an ISO 8601 date-time",
            ));
        }
    }
}

impl MembershipIn {
    /// The roles to store, each temporary one with its end.
    fn into_roles(self) -> Vec<MemberRole> {
        if let Some(role) = self.role {
            return vec![MemberRole {
                role: role.trim().to_string(),
                is_temporary: false,
                temporary_mode: None,
                temporary_range: None,
                temporary_access_start_time: None,
                temporary_access_end_time: None,
            }];
        }
        member_roles(self.roles.unwrap_or_default())
    }
}

/// The roles to store, each temporary one with its end.
fn member_roles(roles: Vec<RoleIn>) -> Vec<MemberRole> {
    roles
        .into_iter()
        .map(|r| {
            let temporary = r.is_temporary == Some(true);
            let start = r
                .temporary_access_start_time
                .as_deref()
                .and_then(crate::time::parse)
                .filter(|_| temporary);
            let range = r.temporary_range.clone().filter(|_| temporary);
            let end = match (start, range.as_deref().and_then(parse_range)) {
                (Some(s), Some(r)) => Some(s.saturating_add(r)),
                _ => None,
            };
            MemberRole {
                role: r.role.trim().to_string(),
                is_temporary: temporary,
                temporary_mode: r.temporary_mode.filter(|_| temporary),
                temporary_range: range,
                temporary_access_start_time: start,
                temporary_access_end_time: end,
            }
        })
        .collect()
}

/// Upstream's role update: the membership's roles, all replaced (same rules as on create).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMembershipIn {
    roles: Vec<RoleIn>,
}

impl Validate for UpdateMembershipIn {
    const BODY_REQUIRED: bool = true;

    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.roles.is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["roles"],
                "At least one role is required",
            ));
        }
        if self.roles.len() > MAX_ROLES {
            issues.push(Issue::new(
                "too_big",
                &["roles"],
                format!("At most {MAX_ROLES} roles"),
            ));
        }
        role_issues(&self.roles, &mut issues);
        issues
    }
}

/// A stable id for the `index`th role of a membership (rotad keeps a membership's roles in
/// one record, so a role has no row of its own): a UUID derived from both.
fn role_id(membership_id: &str, index: usize) -> String {
    let digest = Sha256::digest(format!("{membership_id}:{index}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// A membership's roles as upstream answers them.
pub(super) fn roles_out(m: &Membership) -> Vec<RoleOut> {
    let mut roles: Vec<MemberRole> = serde_json::from_str(&m.roles).unwrap_or_default();
    if roles.is_empty() {
        roles.push(MemberRole {
            role: m.role.clone(),
            is_temporary: false,
            temporary_mode: None,
            temporary_range: None,
            temporary_access_start_time: None,
            temporary_access_end_time: None,
        });
    }
    roles
        .into_iter()
        .enumerate()
        .map(|(i, r)| RoleOut {
            id: role_id(&m.id, i),
            role: r.role,
            custom_role_id: None,
            custom_role_slug: None,
            custom_role_name: None,
            is_temporary: r.is_temporary,
            temporary_mode: r.temporary_mode,
            temporary_range: r.temporary_range,
            temporary_access_start_time: r.temporary_access_start_time.map(rfc3339),
            temporary_access_end_time: r.temporary_access_end_time.map(rfc3339),
        })
        .collect()
}

/// One role as upstream answers it. rotad has no custom roles: their fields are null.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleOut {
    id: String,
    role: String,
    custom_role_id: Option<String>,
    custom_role_slug: Option<String>,
    custom_role_name: Option<String>,
    is_temporary: bool,
    temporary_mode: Option<String>,
    temporary_range: Option<String>,
    temporary_access_start_time: Option<String>,
    temporary_access_end_time: Option<String>,
}

/// The member identity, as upstream nests it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipIdentityOut {
    id: String,
    name: String,
    org_id: String,
    auth_methods: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipProjectOut {
    id: String,
    name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipOut {
    id: String,
    identity_id: String,
    project_id: String,
    roles: Vec<RoleOut>,
    identity: Option<MembershipIdentityOut>,
    project: Option<MembershipProjectOut>,
    created_at: String,
    updated_at: String,
}

/// A membership's answer, with its identity and project.
async fn answer(app: &App, m: Membership) -> Result<Json<MembershipResponse>> {
    let parts = app.membership_parts(&m).await?;
    let identity = parts.identity.map(|i| MembershipIdentityOut {
        id: i.id,
        name: i.name,
        org_id: i.org_id,
        auth_methods: if parts.has_universal_auth {
            vec!["universal-auth".to_string()]
        } else {
            Vec::new()
        },
    });
    let project = parts.project.map(|p| MembershipProjectOut {
        id: p.id,
        name: p.name,
    });
    Ok(Json(MembershipResponse {
        identity_membership: MembershipOut {
            identity,
            project,
            ..m.into()
        },
    }))
}

impl From<Membership> for MembershipOut {
    fn from(m: Membership) -> Self {
        Self {
            identity: None,
            project: None,
            roles: roles_out(&m),
            id: m.id,
            identity_id: m.identity_id,
            project_id: m.project_id,
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
    let m = app
        .set_membership(&ctx, &project_id, &identity_id, input.into_roles())
        .await?;
    answer(&app, m).await
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
    answer(&app, m).await
}

#[derive(Serialize, ToSchema)]
pub struct RolesResponse {
    roles: Vec<RoleOut>,
}

/// Replaces the roles of an identity's membership of a project; a demotion holds from the
/// very next request.
#[utoipa::path(patch, path = "/api/v1/projects/{projectId}/memberships/identities/{identityId}", tag = "Projects",
    params(("projectId" = String, Path), ("identityId" = String, Path)), request_body = UpdateMembershipIn,
    responses((status = 200, body = RolesResponse)), security(("bearer" = [])))]
async fn update_membership(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, identity_id)): Path<(String, String)>,
    Body(input): Body<UpdateMembershipIn>,
) -> Result<Json<RolesResponse>> {
    let identity_id = uuid_param("identityId", &identity_id)?;
    let m = app
        .update_membership(&ctx, &project_id, &identity_id, member_roles(input.roles))
        .await?;
    Ok(Json(RolesResponse {
        roles: roles_out(&m),
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
    answer(&app, m).await
}
