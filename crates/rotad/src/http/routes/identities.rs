//! Machine identities, universal auth, client secrets and project memberships.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Validate};
use crate::services::identities::{ClientSecretInput, UniversalAuthInput};
use crate::services::AppState;
use crate::store::{ClientSecret, Identity, Membership, UniversalAuth};
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_identity, list_identities))
        .routes(routes!(get_identity, delete_identity))
        .routes(routes!(attach_universal_auth, get_universal_auth))
        .routes(routes!(create_client_secret, list_client_secrets))
        .routes(routes!(revoke_client_secret))
        .routes(routes!(add_membership, get_membership, remove_membership))
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
#[serde(rename_all = "camelCase")]
pub struct CreateIdentityIn {
    name: String,
    organization_id: String,
    role: String,
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
        issues
    }
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

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct UniversalAuthIn {
    #[serde(rename = "accessTokenTTL")]
    access_token_ttl: Option<i64>,
    #[serde(rename = "accessTokenMaxTTL")]
    access_token_max_ttl: Option<i64>,
    access_token_num_uses_limit: Option<i64>,
    access_token_trusted_ips: Option<Vec<TrustedIp>>,
}

/// An address or CIDR range from which the identity's tokens may be used.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct TrustedIp {
    ip_address: String,
}

fn is_ip_or_cidr(text: &str) -> bool {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|p| p <= max))
}

impl Validate for UniversalAuthIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (i, ip) in self.access_token_trusted_ips.iter().flatten().enumerate() {
            if !is_ip_or_cidr(ip.ip_address.trim()) {
                issues.push(Issue::new(
                    "custom",
                    &["accessTokenTrustedIps", &i.to_string(), "ipAddress"],
                    "The IP is not a valid IPv4, IPv6, or CIDR block",
                ));
            }
        }
        issues
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UniversalAuthOut {
    identity_id: String,
    client_id: String,
    #[serde(rename = "accessTokenTTL")]
    access_token_ttl: i64,
    #[serde(rename = "accessTokenMaxTTL")]
    access_token_max_ttl: i64,
    access_token_num_uses_limit: i64,
    access_token_trusted_ips: Vec<TrustedIp>,
    created_at: String,
    updated_at: String,
}

impl From<UniversalAuth> for UniversalAuthOut {
    fn from(ua: UniversalAuth) -> Self {
        Self {
            identity_id: ua.identity_id,
            client_id: ua.client_id,
            access_token_ttl: ua.access_token_ttl,
            access_token_max_ttl: ua.access_token_max_ttl,
            access_token_num_uses_limit: ua.access_token_num_uses_limit,
            access_token_trusted_ips: serde_json::from_str(&ua.trusted_ips).unwrap_or_default(),
            created_at: rfc3339(ua.created_at),
            updated_at: rfc3339(ua.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UniversalAuthResponse {
    identity_universal_auth: UniversalAuthOut,
}

/// Attaches universal auth to an identity (or updates its settings).
#[utoipa::path(post, path = "/api/v1/auth/universal-auth/identities/{identityId}", tag = "Universal Auth",
    params(("identityId" = String, Path)), request_body = UniversalAuthIn,
    responses((status = 200, body = UniversalAuthResponse)), security(("bearer" = [])))]
async fn attach_universal_auth(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UniversalAuthIn>,
) -> Result<Json<UniversalAuthResponse>> {
    let id = uuid_param("identityId", &id)?;
    let ua = app
        .attach_universal_auth(
            &ctx,
            &id,
            UniversalAuthInput {
                access_token_ttl: input.access_token_ttl,
                access_token_max_ttl: input.access_token_max_ttl,
                access_token_num_uses_limit: input.access_token_num_uses_limit,
                trusted_ips: input
                    .access_token_trusted_ips
                    .map(|ips| serde_json::json!(ips)),
            },
        )
        .await?;
    Ok(Json(UniversalAuthResponse {
        identity_universal_auth: ua.into(),
    }))
}

/// Reads an identity's universal-auth settings.
#[utoipa::path(get, path = "/api/v1/auth/universal-auth/identities/{identityId}", tag = "Universal Auth",
    params(("identityId" = String, Path)), responses((status = 200, body = UniversalAuthResponse)), security(("bearer" = [])))]
async fn get_universal_auth(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<UniversalAuthResponse>> {
    let id = uuid_param("identityId", &id)?;
    Ok(Json(UniversalAuthResponse {
        identity_universal_auth: app.get_universal_auth(&ctx, &id).await?.into(),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretIn {
    description: Option<String>,
    num_uses_limit: Option<i64>,
    ttl: Option<i64>,
}

impl Validate for ClientSecretIn {}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretOut {
    id: String,
    description: String,
    client_secret_prefix: String,
    client_secret_num_uses: i64,
    client_secret_num_uses_limit: i64,
    #[serde(rename = "clientSecretTTL")]
    client_secret_ttl: i64,
    is_client_secret_revoked: bool,
    identity_id: String,
    created_at: String,
    updated_at: String,
}

impl From<ClientSecret> for ClientSecretOut {
    fn from(s: ClientSecret) -> Self {
        Self {
            id: s.id,
            description: s.description,
            client_secret_prefix: s.prefix,
            client_secret_num_uses: s.num_uses,
            client_secret_num_uses_limit: s.num_uses_limit,
            client_secret_ttl: s.ttl,
            is_client_secret_revoked: s.revoked,
            identity_id: s.identity_id,
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedClientSecretResponse {
    /// Shown once; only a slow hash is kept.
    client_secret: String,
    client_secret_data: ClientSecretOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretsResponse {
    client_secret_data: Vec<ClientSecretOut>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretResponse {
    client_secret_data: ClientSecretOut,
}

/// Creates a client secret for an identity's universal auth.
#[utoipa::path(post, path = "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets", tag = "Universal Auth",
    params(("identityId" = String, Path)), request_body = ClientSecretIn,
    responses((status = 200, body = CreatedClientSecretResponse)), security(("bearer" = [])))]
async fn create_client_secret(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<ClientSecretIn>,
) -> Result<Json<CreatedClientSecretResponse>> {
    let id = uuid_param("identityId", &id)?;
    let (client_secret, record) = app
        .create_client_secret(
            &ctx,
            &id,
            ClientSecretInput {
                description: input.description,
                num_uses_limit: input.num_uses_limit,
                ttl: input.ttl,
            },
        )
        .await?;
    Ok(Json(CreatedClientSecretResponse {
        client_secret,
        client_secret_data: record.into(),
    }))
}

/// Lists an identity's client secrets (never their values).
#[utoipa::path(get, path = "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets", tag = "Universal Auth",
    params(("identityId" = String, Path)), responses((status = 200, body = ClientSecretsResponse)), security(("bearer" = [])))]
async fn list_client_secrets(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<ClientSecretsResponse>> {
    let id = uuid_param("identityId", &id)?;
    let secrets = app.list_client_secrets(&ctx, &id).await?;
    Ok(Json(ClientSecretsResponse {
        client_secret_data: secrets.into_iter().map(Into::into).collect(),
    }))
}

/// Revokes a client secret.
#[utoipa::path(post, path = "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets/{clientSecretId}/revoke",
    tag = "Universal Auth", params(("identityId" = String, Path), ("clientSecretId" = String, Path)),
    responses((status = 200, body = ClientSecretResponse)), security(("bearer" = [])))]
async fn revoke_client_secret(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((id, secret_id)): Path<(String, String)>,
) -> Result<Json<ClientSecretResponse>> {
    let id = uuid_param("identityId", &id)?;
    let secret_id = uuid_param("clientSecretId", &secret_id)?;
    let secret = app.revoke_client_secret(&ctx, &id, &secret_id).await?;
    Ok(Json(ClientSecretResponse {
        client_secret_data: secret.into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleIn {
    role: String,
    #[allow(dead_code)]
    is_temporary: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct MembershipIn {
    roles: Option<Vec<RoleIn>>,
    /// The older single-role form.
    role: Option<String>,
}

impl Validate for MembershipIn {
    fn validate(&self) -> Vec<Issue> {
        if self.role.is_none() && self.roles.as_ref().is_none_or(|r| r.is_empty()) {
            vec![Issue::new(
                "too_small",
                &["roles"],
                "At least one role is required",
            )]
        } else {
            Vec::new()
        }
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
        .unwrap_or_default();
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
