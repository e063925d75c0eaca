//! Universal auth of machine identities: its settings and client secrets.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Validate};
use crate::services::universal_auth::{ClientSecretInput, UniversalAuthInput};
use crate::services::AppState;
use crate::store::{ClientSecret, UniversalAuth};
use crate::time::rfc3339;

use super::identities::unsupported;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            attach_universal_auth,
            get_universal_auth,
            update_universal_auth,
            delete_universal_auth
        ))
        .routes(routes!(create_client_secret, list_client_secrets))
        .routes(routes!(get_client_secret))
        .routes(routes!(revoke_client_secret))
}

/// Upstream's universal-auth settings. Those rotad does not enforce (client-secret trusted
/// IPs, periodic tokens, lockout) are accepted only at the value that matches what rotad does,
/// and otherwise refused with a 422 naming them.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UniversalAuthIn {
    /// Only "every address" (`0.0.0.0/0` and `::/0`, the default) is supported.
    client_secret_trusted_ips: Option<Vec<TrustedIp>>,
    /// Enforced on every request made with the identity's universal-auth tokens.
    access_token_trusted_ips: Option<Vec<TrustedIp>>,
    #[serde(rename = "accessTokenTTL")]
    access_token_ttl: Option<i64>,
    #[serde(rename = "accessTokenMaxTTL")]
    access_token_max_ttl: Option<i64>,
    /// Requests each access token may make; `0` is no limit.
    access_token_num_uses_limit: Option<i64>,
    /// Only `0` (no periodic tokens) is supported.
    access_token_period: Option<i64>,
    /// Only `false` is supported.
    lockout_enabled: Option<bool>,
    /// Only upstream's default, `3`, is accepted.
    lockout_threshold: Option<f64>,
    /// Only upstream's default, `300`, is accepted.
    lockout_duration_seconds: Option<f64>,
    /// Only upstream's default, `30`, is accepted.
    lockout_counter_reset_seconds: Option<f64>,
}

/// An address or CIDR range from which the identity's tokens may be used.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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

fn trusted_ip_issues(issues: &mut Vec<Issue>, field: &str, ips: Option<&Vec<TrustedIp>>) {
    let Some(ips) = ips else {
        return;
    };
    if ips.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &[field],
            "Array must contain at least 1 element(s)",
        ));
    }
    for (i, ip) in ips.iter().enumerate() {
        if !is_ip_or_cidr(ip.ip_address.trim()) {
            issues.push(Issue::new(
                "custom",
                &[field, &i.to_string(), "ipAddress"],
                "The IP is not a valid IPv4, IPv6, or CIDR block",
            ));
        }
    }
}

impl Validate for UniversalAuthIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        trusted_ip_issues(
            &mut issues,
            "accessTokenTrustedIps",
            self.access_token_trusted_ips.as_ref(),
        );
        trusted_ip_issues(
            &mut issues,
            "clientSecretTrustedIps",
            self.client_secret_trusted_ips.as_ref(),
        );
        if self.access_token_num_uses_limit.is_some_and(|n| n < 0) {
            issues.push(Issue::new(
                "too_small",
                &["accessTokenNumUsesLimit"],
                "accessTokenNumUsesLimit must be 0 (no limit) or more",
            ));
        }
        if self.access_token_period.is_some_and(|p| p != 0) {
            issues.push(unsupported(
                &["accessTokenPeriod"],
                "accessTokenPeriod is not supported by rotad (no periodic tokens): omit it or \
                 send 0",
            ));
        }
        if self.lockout_enabled == Some(true) {
            issues.push(unsupported(
                &["lockoutEnabled"],
                "lockoutEnabled is not supported by rotad: omit it or send false",
            ));
        }
        for (field, value, default) in [
            ("lockoutThreshold", self.lockout_threshold, 3.0),
            (
                "lockoutDurationSeconds",
                self.lockout_duration_seconds,
                300.0,
            ),
            (
                "lockoutCounterResetSeconds",
                self.lockout_counter_reset_seconds,
                30.0,
            ),
        ] {
            if value.is_some_and(|v| v != default) {
                issues.push(unsupported(
                    &[field],
                    &format!(
                        "{field} is not supported by rotad (no lockout): omit it or send {default}"
                    ),
                ));
            }
        }
        issues
    }
}

impl UniversalAuthIn {
    fn into_input(self) -> UniversalAuthInput {
        UniversalAuthInput {
            access_token_ttl: self.access_token_ttl,
            access_token_max_ttl: self.access_token_max_ttl,
            access_token_num_uses_limit: self.access_token_num_uses_limit,
            trusted_ips: self
                .access_token_trusted_ips
                .map(|ips| serde_json::json!(ips)),
            client_secret_trusted_ips: self
                .client_secret_trusted_ips
                .map(|ips| serde_json::json!(ips)),
        }
    }
}

/// Upstream's universal-auth object. rotad keeps one universal auth per identity under the
/// identity's id, so `id` (and a client secret's `identityUAId`) is the identity's id
/// (docs/COMPATIBILITY.md).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UniversalAuthOut {
    id: String,
    identity_id: String,
    client_id: String,
    #[serde(rename = "accessTokenTTL")]
    access_token_ttl: i64,
    #[serde(rename = "accessTokenMaxTTL")]
    access_token_max_ttl: i64,
    access_token_num_uses_limit: i64,
    access_token_trusted_ips: Vec<TrustedIp>,
    client_secret_trusted_ips: Vec<TrustedIp>,
    /// rotad issues no periodic tokens: always 0.
    access_token_period: i64,
    /// rotad has no lockout: always false, with upstream's default settings.
    lockout_enabled: bool,
    lockout_threshold: i64,
    lockout_duration_seconds: i64,
    lockout_counter_reset_seconds: i64,
    created_at: String,
    updated_at: String,
}

impl From<UniversalAuth> for UniversalAuthOut {
    fn from(ua: UniversalAuth) -> Self {
        Self {
            id: ua.identity_id.clone(),
            identity_id: ua.identity_id,
            client_id: ua.client_id,
            access_token_ttl: ua.access_token_ttl,
            access_token_max_ttl: ua.access_token_max_ttl,
            access_token_num_uses_limit: ua.access_token_num_uses_limit,
            access_token_trusted_ips: serde_json::from_str(&ua.trusted_ips).unwrap_or_default(),
            client_secret_trusted_ips: serde_json::from_str(&ua.client_secret_trusted_ips)
                .unwrap_or_default(),
            access_token_period: 0,
            lockout_enabled: false,
            lockout_threshold: 3,
            lockout_duration_seconds: 300,
            lockout_counter_reset_seconds: 30,
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

/// Attaches universal auth to an identity; a 400 when it has it already (change it with PATCH).
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
        .attach_universal_auth(&ctx, &id, input.into_input())
        .await?;
    Ok(Json(UniversalAuthResponse {
        identity_universal_auth: ua.into(),
    }))
}

/// Changes an identity's universal-auth settings; those not sent are kept.
#[utoipa::path(patch, path = "/api/v1/auth/universal-auth/identities/{identityId}", tag = "Universal Auth",
    params(("identityId" = String, Path)), request_body = UniversalAuthIn,
    responses((status = 200, body = UniversalAuthResponse)), security(("bearer" = [])))]
async fn update_universal_auth(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UniversalAuthIn>,
) -> Result<Json<UniversalAuthResponse>> {
    let id = uuid_param("identityId", &id)?;
    let ua = app
        .update_universal_auth(&ctx, &id, input.into_input())
        .await?;
    Ok(Json(UniversalAuthResponse {
        identity_universal_auth: ua.into(),
    }))
}

/// Removes universal auth from an identity, revoking its client secrets and the access tokens
/// it issued.
#[utoipa::path(delete, path = "/api/v1/auth/universal-auth/identities/{identityId}", tag = "Universal Auth",
    params(("identityId" = String, Path)),
    responses((status = 200, body = UniversalAuthResponse)), security(("bearer" = [])))]
async fn delete_universal_auth(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<UniversalAuthResponse>> {
    let id = uuid_param("identityId", &id)?;
    let ua = app.delete_universal_auth(&ctx, &id).await?;
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecretIn {
    description: Option<String>,
    num_uses_limit: Option<i64>,
    ttl: Option<i64>,
}

/// A client secret's description.
const MAX_CLIENT_SECRET_DESCRIPTION: usize = 256;

impl Validate for ClientSecretIn {
    fn validate(&self) -> Vec<Issue> {
        if self
            .description
            .as_deref()
            .is_some_and(|d| d.trim().chars().count() > MAX_CLIENT_SECRET_DESCRIPTION)
        {
            vec![Issue::new(
                "too_big",
                &["description"],
                format!("Description must be at most {MAX_CLIENT_SECRET_DESCRIPTION} characters"),
            )]
        } else {
            Vec::new()
        }
    }
}

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
    /// The universal auth's `id` (the identity's id in rotad).
    #[serde(rename = "identityUAId")]
    identity_ua_id: String,
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
            identity_ua_id: s.identity_id.clone(),
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

/// Reads one client secret (never its value), revoked or not.
#[utoipa::path(get, path = "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets/{clientSecretId}",
    tag = "Universal Auth", params(("identityId" = String, Path), ("clientSecretId" = String, Path)),
    responses((status = 200, body = ClientSecretResponse)), security(("bearer" = [])))]
async fn get_client_secret(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((id, secret_id)): Path<(String, String)>,
) -> Result<Json<ClientSecretResponse>> {
    let id = uuid_param("identityId", &id)?;
    let secret_id = uuid_param("clientSecretId", &secret_id)?;
    let secret = app.get_client_secret(&ctx, &id, &secret_id).await?;
    Ok(Json(ClientSecretResponse {
        client_secret_data: secret.into(),
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
