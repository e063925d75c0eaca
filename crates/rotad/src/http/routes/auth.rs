//! Bootstrap and universal-auth login, renew and revoke.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Body, Meta, Validate};
use crate::services::auth::IssuedToken;
use crate::services::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bootstrap))
        .routes(routes!(login))
        .routes(routes!(login_trailing_slash))
        .routes(routes!(renew))
        .routes(routes!(revoke))
}

#[derive(Deserialize, ToSchema)]
pub struct BootstrapIn {
    organization: String,
    #[allow(dead_code)]
    email: Option<String>,
    #[allow(dead_code)]
    password: Option<String>,
}

impl Validate for BootstrapIn {
    fn validate(&self) -> Vec<Issue> {
        if self.organization.trim().is_empty() {
            vec![Issue::new(
                "too_small",
                &["organization"],
                "Organization name is required",
            )]
        } else {
            Vec::new()
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BootstrapOrganization {
    id: String,
    name: String,
    slug: String,
}

#[derive(Serialize, ToSchema)]
pub struct BootstrapCredentials {
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct BootstrapIdentity {
    id: String,
    name: String,
    credentials: BootstrapCredentials,
}

#[derive(Serialize, ToSchema)]
pub struct BootstrapOut {
    message: String,
    organization: BootstrapOrganization,
    identity: BootstrapIdentity,
}

/// Sets up an empty instance: an organization and an admin identity with a Bearer token.
#[utoipa::path(post, path = "/api/v1/admin/bootstrap", tag = "Admin", request_body = BootstrapIn,
    responses((status = 200, body = BootstrapOut)))]
async fn bootstrap(
    State(app): State<AppState>,
    Body(input): Body<BootstrapIn>,
) -> Result<Json<BootstrapOut>> {
    Ok(Json(bootstrap_out(
        app.bootstrap_via_api(&input.organization).await?,
    )))
}

pub fn bootstrap_out(b: crate::services::auth::Bootstrapped) -> BootstrapOut {
    BootstrapOut {
        message: "Successfully bootstrapped instance".to_string(),
        organization: BootstrapOrganization {
            id: b.organization.id,
            name: b.organization.name,
            slug: b.organization.slug,
        },
        identity: BootstrapIdentity {
            id: b.identity.id,
            name: b.identity.name,
            credentials: BootstrapCredentials { token: b.token },
        },
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginIn {
    client_id: String,
    client_secret: String,
    #[allow(dead_code)]
    organization_slug: Option<String>,
}

impl Validate for LoginIn {}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenOut {
    access_token: String,
    expires_in: i64,
    #[serde(rename = "accessTokenMaxTTL")]
    access_token_max_ttl: i64,
    token_type: String,
}

impl From<IssuedToken> for TokenOut {
    fn from(t: IssuedToken) -> Self {
        Self {
            access_token: t.access_token,
            expires_in: t.expires_in,
            access_token_max_ttl: t.max_ttl,
            token_type: "Bearer".to_string(),
        }
    }
}

/// Universal-auth login with a client id and client secret.
#[utoipa::path(post, path = "/api/v1/auth/universal-auth/login", tag = "Universal Auth",
    request_body = LoginIn, responses((status = 200, body = TokenOut)))]
async fn login(
    State(app): State<AppState>,
    Meta(meta): Meta,
    Body(input): Body<LoginIn>,
) -> Result<Json<TokenOut>> {
    let (token, _) = app
        .login(&input.client_id, &input.client_secret, &meta)
        .await?;
    Ok(Json(token.into()))
}

/// The same login, as the Infisical CLI calls it (with a trailing slash).
#[utoipa::path(post, path = "/api/v1/auth/universal-auth/login/", tag = "Universal Auth",
    request_body = LoginIn, responses((status = 200, body = TokenOut)))]
async fn login_trailing_slash(
    state: State<AppState>,
    meta: Meta,
    body: Body<LoginIn>,
) -> Result<Json<TokenOut>> {
    login(state, meta, body).await
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenIn {
    access_token: String,
}

impl Validate for AccessTokenIn {}

/// Extends an access token by its TTL, up to its maximum lifetime.
#[utoipa::path(post, path = "/api/v1/auth/token/renew", tag = "Universal Auth",
    request_body = AccessTokenIn, responses((status = 200, body = TokenOut)))]
async fn renew(
    State(app): State<AppState>,
    Body(input): Body<AccessTokenIn>,
) -> Result<Json<TokenOut>> {
    Ok(Json(app.renew(&input.access_token).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct MessageOut {
    message: String,
}

/// Revokes an access token at once.
#[utoipa::path(post, path = "/api/v1/auth/token/revoke", tag = "Universal Auth",
    request_body = AccessTokenIn, responses((status = 200, body = MessageOut)))]
async fn revoke(
    State(app): State<AppState>,
    Body(input): Body<AccessTokenIn>,
) -> Result<Json<MessageOut>> {
    app.revoke_token(&input.access_token).await?;
    Ok(Json(MessageOut {
        message: "Successfully revoked access token".to_string(),
    }))
}
