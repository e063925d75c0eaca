//! Machine identities (their universal auth is in `universal_auth.rs`, their project
//! memberships in `memberships.rs`).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Query, Validate};
use crate::services::{App, AppState};
use crate::store::Identity;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_identity, list_identities))
        .routes(routes!(get_identity, update_identity, delete_identity))
        .merge(super::identity_search::router())
        .merge(super::universal_auth::router())
        .merge(super::memberships::router())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityOut {
    id: String,
    name: String,
    org_id: String,
    role: String,
    auth_methods: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl IdentityOut {
    fn new(i: Identity, has_ua: bool) -> Self {
        Self {
            id: i.id,
            name: i.name,
            org_id: i.org_id,
            role: i.org_role,
            auth_methods: auth_methods(has_ua),
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
        }
    }
}

/// The identity inside an organization membership, as upstream nests it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NestedIdentityOut {
    id: String,
    name: String,
    org_id: String,
    auth_methods: Vec<String>,
    /// rotad has no lockout: always empty.
    active_lockout_auth_methods: Vec<String>,
    /// rotad has no delete protection: always false.
    has_delete_protection: bool,
}

/// Upstream's organization membership of an identity. rotad keeps the org role on the
/// identity itself, so the membership's `id` is the identity's id (docs/COMPATIBILITY.md).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgMembershipOut {
    id: String,
    identity_id: String,
    org_id: String,
    role: String,
    /// Custom roles do not exist in rotad: always null.
    #[schema(value_type = Option<String>)]
    role_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    custom_role: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    last_login_auth_method: Option<String>,
    #[schema(value_type = Option<String>)]
    last_login_time: Option<String>,
    #[schema(value_type = Vec<Object>)]
    metadata: Vec<serde_json::Value>,
    created_at: String,
    updated_at: String,
    identity: NestedIdentityOut,
}

impl OrgMembershipOut {
    fn new(i: Identity, has_ua: bool) -> Self {
        Self {
            id: i.id.clone(),
            identity_id: i.id.clone(),
            org_id: i.org_id.clone(),
            role: i.org_role,
            role_id: None,
            custom_role: None,
            last_login_auth_method: None,
            last_login_time: None,
            metadata: Vec::new(),
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
            identity: NestedIdentityOut {
                id: i.id,
                name: i.name,
                org_id: i.org_id,
                auth_methods: auth_methods(has_ua),
                active_lockout_auth_methods: Vec::new(),
                has_delete_protection: false,
            },
        }
    }

    /// Each identity with whether it has universal auth.
    pub(super) async fn many(app: &App, identities: Vec<Identity>) -> Result<Vec<Self>> {
        let mut out = Vec::with_capacity(identities.len());
        for identity in identities {
            let has_ua = app.store.get_universal_auth(&identity.id).await?.is_some();
            out.push(Self::new(identity, has_ua));
        }
        Ok(out)
    }
}

fn auth_methods(has_ua: bool) -> Vec<String> {
    if has_ua {
        vec!["universal-auth".to_string()]
    } else {
        Vec::new()
    }
}

#[derive(Serialize, ToSchema)]
pub struct IdentityResponse {
    identity: IdentityOut,
}

#[derive(Serialize, ToSchema)]
pub struct OrgMembershipResponse {
    identity: OrgMembershipOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgMembershipsResponse {
    pub(super) identities: Vec<OrgMembershipOut>,
    pub(super) total_count: usize,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIdentityIn {
    name: String,
    organization_id: String,
    /// An organization role: `admin`, `member` or `no-access` (the default, as upstream).
    role: Option<String>,
    /// Upstream's identity metadata; rotad keeps none, so only an empty list is accepted.
    #[schema(value_type = Option<Vec<Object>>, max_items = 0)]
    metadata: Option<Vec<serde_json::Value>>,
}

impl Validate for CreateIdentityIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.name.trim().is_empty() {
            issues.push(Issue::new("too_small", &["name"], "Name is required"));
        }
        if self.organization_id.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["organizationId"],
                "Organization ID is required",
            ));
        }
        if self.metadata.as_ref().is_some_and(|m| !m.is_empty()) {
            issues.push(unsupported(
                &["metadata"],
                "metadata is not supported by rotad: omit it or send []",
            ));
        }
        issues
    }
}

/// A setting upstream accepts that rotad does not enforce: refused rather than ignored.
pub(super) fn unsupported(path: &[&str], message: &str) -> Issue {
    Issue::new("custom", path, message)
}

/// Creates a machine identity in the organization.
#[utoipa::path(post, path = "/api/v1/identities", tag = "Identities", request_body = CreateIdentityIn,
    responses((status = 200, body = IdentityResponse)), security(("bearer" = [])))]
async fn create_identity(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateIdentityIn>,
) -> Result<Json<IdentityResponse>> {
    let identity = app
        .create_identity(
            &ctx,
            &input.name,
            &input.organization_id,
            input.role.as_deref().unwrap_or("no-access"),
        )
        .await?;
    Ok(Json(IdentityResponse {
        identity: IdentityOut::new(identity, false),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// The organization; the caller's own (the default) is the only one it may list.
    org_id: Option<String>,
}

impl Validate for OrgQuery {}

/// Lists the organization's identities as upstream's organization memberships.
#[utoipa::path(get, path = "/api/v1/identities", tag = "Identities", params(OrgQuery),
    responses((status = 200, body = OrgMembershipsResponse)), security(("bearer" = [])))]
async fn list_identities(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<OrgQuery>,
) -> Result<Json<OrgMembershipsResponse>> {
    if q.org_id.as_deref().is_some_and(|o| o != ctx.actor.org_id) {
        return Err(Error::forbidden(
            "You are not allowed to list identities of this organization",
        ));
    }
    let identities = OrgMembershipOut::many(&app, app.list_identities(&ctx).await?).await?;
    Ok(Json(OrgMembershipsResponse {
        total_count: identities.len(),
        identities,
    }))
}

/// Gets an identity's organization membership.
#[utoipa::path(get, path = "/api/v1/identities/{identityId}", tag = "Identities",
    params(("identityId" = String, Path)), responses((status = 200, body = OrgMembershipResponse)), security(("bearer" = [])))]
async fn get_identity(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<OrgMembershipResponse>> {
    let id = uuid_param("identityId", &id)?;
    let identity = app.get_identity(&ctx, &id).await?;
    let has_ua = app.store.get_universal_auth(&identity.id).await?.is_some();
    Ok(Json(OrgMembershipResponse {
        identity: OrgMembershipOut::new(identity, has_ua),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateIdentityIn {
    name: Option<String>,
    /// An organization role: `admin`, `member` or `no-access`.
    role: Option<String>,
    /// Only `false` (rotad has no delete protection).
    has_delete_protection: Option<bool>,
    /// Only an empty list (rotad keeps no identity metadata).
    #[schema(value_type = Option<Vec<Object>>, max_items = 0)]
    metadata: Option<Vec<serde_json::Value>>,
}

impl Validate for UpdateIdentityIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            issues.push(Issue::new("too_small", &["name"], "Name is required"));
        }
        if self.has_delete_protection == Some(true) {
            issues.push(unsupported(
                &["hasDeleteProtection"],
                "hasDeleteProtection is not supported by rotad: omit it or send false",
            ));
        }
        if self.metadata.as_ref().is_some_and(|m| !m.is_empty()) {
            issues.push(unsupported(
                &["metadata"],
                "metadata is not supported by rotad: omit it or send []",
            ));
        }
        issues
    }
}

/// Renames an identity or changes its organization role.
#[utoipa::path(patch, path = "/api/v1/identities/{identityId}", tag = "Identities",
    params(("identityId" = String, Path)), request_body = UpdateIdentityIn,
    responses((status = 200, body = IdentityResponse)), security(("bearer" = [])))]
async fn update_identity(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateIdentityIn>,
) -> Result<Json<IdentityResponse>> {
    let id = uuid_param("identityId", &id)?;
    let identity = app
        .update_identity(&ctx, &id, input.name.as_deref(), input.role.as_deref())
        .await?;
    let has_ua = app.store.get_universal_auth(&identity.id).await?.is_some();
    Ok(Json(IdentityResponse {
        identity: IdentityOut::new(identity, has_ua),
    }))
}

/// Deletes an identity with its credentials and tokens.
#[utoipa::path(delete, path = "/api/v1/identities/{identityId}", tag = "Identities",
    params(("identityId" = String, Path)), responses((status = 200, body = IdentityResponse)), security(("bearer" = [])))]
async fn delete_identity(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<IdentityResponse>> {
    let id = uuid_param("identityId", &id)?;
    let identity = app.delete_identity(&ctx, &id).await?;
    Ok(Json(IdentityResponse {
        identity: IdentityOut::new(identity, false),
    }))
}
