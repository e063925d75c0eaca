//! Machine identities (their universal auth is in `universal_auth.rs`, their project
//! memberships in `memberships.rs`).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Validate};
use crate::services::AppState;
use crate::store::Identity;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_identity, list_identities))
        .routes(routes!(get_identity, delete_identity))
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
            auth_methods: if has_ua {
                vec!["universal-auth".to_string()]
            } else {
                Vec::new()
            },
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IdentityResponse {
    identity: IdentityOut,
}

#[derive(Serialize, ToSchema)]
pub struct IdentitiesResponse {
    identities: Vec<IdentityOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIdentityIn {
    name: String,
    organization_id: String,
    role: String,
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
        .create_identity(&ctx, &input.name, &input.organization_id, &input.role)
        .await?;
    Ok(Json(IdentityResponse {
        identity: IdentityOut::new(identity, false),
    }))
}

/// Lists the organization's identities.
#[utoipa::path(get, path = "/api/v1/identities", tag = "Identities",
    responses((status = 200, body = IdentitiesResponse)), security(("bearer" = [])))]
async fn list_identities(
    State(app): State<AppState>,
    Auth(ctx): Auth,
) -> Result<Json<IdentitiesResponse>> {
    let mut identities = Vec::new();
    for identity in app.list_identities(&ctx).await? {
        let has_ua = app.store.get_universal_auth(&identity.id).await?.is_some();
        identities.push(IdentityOut::new(identity, has_ua));
    }
    Ok(Json(IdentitiesResponse { identities }))
}

/// Gets an identity.
#[utoipa::path(get, path = "/api/v1/identities/{identityId}", tag = "Identities",
    params(("identityId" = String, Path)), responses((status = 200, body = IdentityResponse)), security(("bearer" = [])))]
async fn get_identity(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<IdentityResponse>> {
    let id = uuid_param("identityId", &id)?;
    let identity = app.get_identity(&ctx, &id).await?;
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
