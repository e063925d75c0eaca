//! Upstream's list of a project's identity memberships, paged.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Query, Validate};
use crate::services::AppState;
use crate::time::rfc3339;

use super::memberships::{roles_out, RoleOut};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_memberships))
}

/// Upstream's page size when `limit` is absent, and its largest.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 1000;

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Memberships to skip (oldest first); 0 when absent.
    offset: Option<i64>,
    /// 1 to 1000; 20 when absent.
    limit: Option<i64>,
    /// Upstream's filters (`identityName`, `roles`, `orderBy`, `orderDirection`) are refused.
    identity_name: Option<String>,
    roles: Option<String>,
    order_by: Option<String>,
    order_direction: Option<String>,
}

impl Validate for PageQuery {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.offset.is_some_and(|o| o < 0) {
            issues.push(Issue::new(
                "too_small",
                &["offset"],
                "Number must be greater than or equal to 0",
            ));
        }
        if self.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
            issues.push(Issue::new(
                "too_big",
                &["limit"],
                format!("Number must be between 1 and {MAX_LIMIT}"),
            ));
        }
        for (field, present) in [
            ("identityName", self.identity_name.is_some()),
            ("roles", self.roles.is_some()),
            ("orderBy", self.order_by.is_some()),
            ("orderDirection", self.order_direction.is_some()),
        ] {
            if present {
                issues.push(super::identities::unsupported(
                    &[field],
                    &format!("{field} is not supported by rotad: page with offset and limit"),
                ));
            }
        }
        issues
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberIdentityOut {
    id: String,
    name: String,
    org_id: String,
    project_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedMembershipOut {
    id: String,
    identity_id: String,
    project_id: String,
    roles: Vec<RoleOut>,
    identity: MemberIdentityOut,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipsResponse {
    identity_memberships: Vec<ListedMembershipOut>,
    total_count: i64,
}

/// Lists the project's identity memberships, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/memberships/identities", tag = "Projects",
    params(("projectId" = String, Path), PageQuery),
    responses((status = 200, body = MembershipsResponse)), security(("bearer" = [])))]
async fn list_memberships(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(project_id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<MembershipsResponse>> {
    let page = app
        .list_memberships(
            &ctx,
            &project_id,
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    let identity_memberships = page
        .memberships
        .into_iter()
        .map(|(m, identity)| ListedMembershipOut {
            roles: roles_out(&m),
            identity: MemberIdentityOut {
                id: m.identity_id.clone(),
                name: identity
                    .as_ref()
                    .map(|i| i.name.clone())
                    .unwrap_or_default(),
                org_id: identity.map(|i| i.org_id).unwrap_or_default(),
                project_id: m.project_id.clone(),
            },
            id: m.id,
            identity_id: m.identity_id,
            project_id: m.project_id,
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        })
        .collect();
    Ok(Json(MembershipsResponse {
        identity_memberships,
        total_count: page.total_count,
    }))
}
