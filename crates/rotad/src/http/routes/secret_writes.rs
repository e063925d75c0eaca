//! Secret writes by name: `/api/v3/secrets/raw/{secretName}` and `/api/v4/secrets/{secretName}`
//! (POST creates, PATCH updates, DELETE deletes), with the bodies real clients send.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::secrets::{SecretOut, SecretResponse};
use crate::error::Result;
use crate::http::extract::{Auth, Body, Validate};
use crate::services::secrets::{NewSecret, Scope, SecretChange};
use crate::services::{AppState, Ctx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_v3, update_v3, delete_v3))
        .routes(routes!(create_v4, update_v4, delete_v4))
}

/// Body of the write routes.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct WriteIn {
    workspace_id: Option<String>,
    project_id: Option<String>,
    workspace_slug: Option<String>,
    project_slug: Option<String>,
    #[serde(default)]
    environment: String,
    secret_path: Option<String>,
    secret_value: Option<String>,
    secret_comment: Option<String>,
    skip_multiline_encoding: Option<bool>,
    #[serde(rename = "type")]
    secret_type: Option<String>,
    new_secret_name: Option<String>,
    /// Ids of the project's tags (replacing the secret's tags on update).
    tag_ids: Option<Vec<String>>,
}

/// A secret's comment.
pub(crate) const MAX_SECRET_COMMENT: usize = 10_000;

impl Validate for WriteIn {
    fn validate(&self) -> Vec<crate::error::Issue> {
        let mut issues = Vec::new();
        if self.environment.trim().is_empty() {
            issues.push(crate::error::Issue::new(
                "too_small",
                &["environment"],
                "Environment required",
            ));
        }
        if self
            .secret_comment
            .as_deref()
            .is_some_and(|c| c.chars().count() > MAX_SECRET_COMMENT)
        {
            issues.push(crate::error::Issue::new(
                "too_big",
                &["secretComment"],
                format!("Secret comment must be at most {MAX_SECRET_COMMENT} characters"),
            ));
        }
        issues
    }
}

impl WriteIn {
    async fn scope(&self, app: &AppState, ctx: &Ctx) -> Result<Scope> {
        let id = self.workspace_id.as_deref().or(self.project_id.as_deref());
        let slug = self
            .workspace_slug
            .as_deref()
            .or(self.project_slug.as_deref());
        Ok(Scope {
            project_id: app.project_ref(ctx, id, slug).await?,
            environment: self.environment.clone(),
            secret_path: self.secret_path.clone(),
        })
    }
}

async fn create(
    app: AppState,
    ctx: Ctx,
    name: String,
    input: WriteIn,
) -> Result<Json<SecretResponse>> {
    let scope = input.scope(&app, &ctx).await?;
    let secret = app
        .create_secret(
            &ctx,
            &scope,
            NewSecret {
                key: &name,
                value: input.secret_value.as_deref().unwrap_or(""),
                comment: input.secret_comment.as_deref(),
                skip_multiline: input.skip_multiline_encoding.unwrap_or(false),
                secret_type: input.secret_type.as_deref(),
                tag_ids: input.tag_ids.as_deref(),
            },
        )
        .await?;
    Ok(Json(SecretResponse {
        secret: SecretOut::new(secret, true),
    }))
}

async fn update(
    app: AppState,
    ctx: Ctx,
    name: String,
    input: WriteIn,
) -> Result<Json<SecretResponse>> {
    let scope = input.scope(&app, &ctx).await?;
    let change = SecretChange {
        value: input.secret_value,
        new_key: input.new_secret_name.filter(|n| !n.trim().is_empty()),
        comment: input.secret_comment,
        skip_multiline: input.skip_multiline_encoding,
        tag_ids: input.tag_ids,
    };
    let secret = app
        .update_secret(&ctx, &scope, &name, change, input.secret_type.as_deref())
        .await?;
    Ok(Json(SecretResponse {
        secret: SecretOut::new(secret, true),
    }))
}

async fn delete(
    app: AppState,
    ctx: Ctx,
    name: String,
    input: WriteIn,
) -> Result<Json<SecretResponse>> {
    let scope = input.scope(&app, &ctx).await?;
    let secret = app
        .delete_secret(&ctx, &scope, &name, input.secret_type.as_deref())
        .await?;
    Ok(Json(SecretResponse {
        secret: SecretOut::new(secret, true),
    }))
}

/// Creates a secret.
#[utoipa::path(post, path = "/api/v3/secrets/raw/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn create_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    create(app, ctx, name, input).await
}

/// Updates a secret's value, comment or name; every change is a new version.
#[utoipa::path(patch, path = "/api/v3/secrets/raw/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn update_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    update(app, ctx, name, input).await
}

/// Deletes a secret.
#[utoipa::path(delete, path = "/api/v3/secrets/raw/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn delete_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    delete(app, ctx, name, input).await
}

/// Creates a secret (`projectId` names the project).
#[utoipa::path(post, path = "/api/v4/secrets/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn create_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    create(app, ctx, name, input).await
}

/// Updates a secret's value, comment or name; every change is a new version.
#[utoipa::path(patch, path = "/api/v4/secrets/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn update_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    update(app, ctx, name, input).await
}

/// Deletes a secret.
#[utoipa::path(delete, path = "/api/v4/secrets/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path)), request_body = WriteIn,
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn delete_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Body(input): Body<WriteIn>,
) -> Result<Json<SecretResponse>> {
    delete(app, ctx, name, input).await
}
