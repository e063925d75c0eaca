//! Secrets in batches: `/api/v3/secrets/batch/raw` and `/api/v4/secrets/batch` (POST creates,
//! PATCH updates, DELETE deletes). All items or none: one bad item is a 4xx that changes nothing.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::secret_writes::MAX_SECRET_COMMENT;
use super::secrets::SecretOut;
use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Validate};
use crate::services::projects::normalize_path;
use crate::services::secrets::{BatchCreate, Scope, Secret, SecretChange};
use crate::services::{AppState, Ctx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_v3, update_v3, delete_v3))
        .routes(routes!(create_v4, update_v4, delete_v4))
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    secrets: Vec<SecretOut>,
}

fn answer(secrets: Vec<Secret>) -> Json<BatchResponse> {
    Json(BatchResponse {
        secrets: secrets
            .into_iter()
            .map(|s| SecretOut::new(s, true))
            .collect(),
    })
}

/// One secret of a batch. `secretValue` is required to create; every other field is optional.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemIn {
    #[serde(default)]
    secret_key: String,
    secret_value: Option<String>,
    secret_comment: Option<String>,
    skip_multiline_encoding: Option<bool>,
    tag_ids: Option<Vec<String>>,
    new_secret_name: Option<String>,
    /// When given, the batch's own `secretPath`.
    secret_path: Option<String>,
    #[serde(rename = "type")]
    secret_type: Option<String>,
}

/// A batch: the folder (`workspaceId`, `projectId` or `projectSlug`, `environment`,
/// `secretPath`) and its secrets.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchIn {
    workspace_id: Option<String>,
    project_id: Option<String>,
    workspace_slug: Option<String>,
    project_slug: Option<String>,
    #[serde(default)]
    environment: String,
    secret_path: Option<String>,
    #[serde(default)]
    secrets: Vec<BatchItemIn>,
}

impl Validate for BatchIn {
    const BODY_REQUIRED: bool = true;

    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.environment.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["environment"],
                "Environment required",
            ));
        }
        let path = normalize_path(self.secret_path.as_deref());
        for (i, item) in self.secrets.iter().enumerate() {
            let at = i.to_string();
            if item
                .secret_comment
                .as_deref()
                .is_some_and(|c| c.chars().count() > MAX_SECRET_COMMENT)
            {
                issues.push(Issue::new(
                    "too_big",
                    &["secrets", &at, "secretComment"],
                    format!("Secret comment must be at most {MAX_SECRET_COMMENT} characters"),
                ));
            }
            if item.secret_path.is_some() && normalize_path(item.secret_path.as_deref()) != path {
                issues.push(Issue::new(
                    "custom",
                    &["secrets", &at, "secretPath"],
                    "An item's secretPath must be the batch's secretPath",
                ));
            }
            if item.secret_type.as_deref().is_some_and(|t| t != "shared") {
                issues.push(Issue::new(
                    "invalid_enum_value",
                    &["secrets", &at, "type"],
                    "Only shared secrets are supported",
                ));
            }
        }
        issues
    }
}

impl BatchIn {
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

async fn create(app: AppState, ctx: Ctx, input: BatchIn) -> Result<Json<BatchResponse>> {
    let missing: Vec<Issue> = input
        .secrets
        .iter()
        .enumerate()
        .filter(|(_, item)| item.secret_value.is_none())
        .map(|(i, _)| {
            Issue::new(
                "invalid_type",
                &["secrets", &i.to_string(), "secretValue"],
                "Required",
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(crate::error::Error::Validation(missing));
    }
    let scope = input.scope(&app, &ctx).await?;
    let items = input
        .secrets
        .into_iter()
        .map(|item| BatchCreate {
            key: item.secret_key,
            value: item.secret_value.unwrap_or_default(),
            comment: item.secret_comment,
            skip_multiline: item.skip_multiline_encoding.unwrap_or(false),
            tag_ids: item.tag_ids,
        })
        .collect();
    Ok(answer(app.create_secrets_batch(&ctx, &scope, items).await?))
}

async fn update(app: AppState, ctx: Ctx, input: BatchIn) -> Result<Json<BatchResponse>> {
    let scope = input.scope(&app, &ctx).await?;
    let items = input
        .secrets
        .into_iter()
        .map(|item| {
            (
                item.secret_key,
                SecretChange {
                    value: item.secret_value,
                    new_key: item.new_secret_name.filter(|n| !n.trim().is_empty()),
                    comment: item.secret_comment,
                    skip_multiline: item.skip_multiline_encoding,
                    tag_ids: item.tag_ids,
                },
            )
        })
        .collect();
    Ok(answer(app.update_secrets_batch(&ctx, &scope, items).await?))
}

async fn delete(app: AppState, ctx: Ctx, input: BatchIn) -> Result<Json<BatchResponse>> {
    let scope = input.scope(&app, &ctx).await?;
    let keys = input.secrets.into_iter().map(|i| i.secret_key).collect();
    Ok(answer(app.delete_secrets_batch(&ctx, &scope, keys).await?))
}

/// Creates many secrets in one folder, all or none.
#[utoipa::path(post, path = "/api/v3/secrets/batch/raw", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn create_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    create(app, ctx, input).await
}

/// Updates many secrets of one folder, all or none.
#[utoipa::path(patch, path = "/api/v3/secrets/batch/raw", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn update_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    update(app, ctx, input).await
}

/// Deletes many secrets of one folder, all or none.
#[utoipa::path(delete, path = "/api/v3/secrets/batch/raw", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn delete_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    delete(app, ctx, input).await
}

/// Creates many secrets in one folder, all or none (`projectId` names the project).
#[utoipa::path(post, path = "/api/v4/secrets/batch", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn create_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    create(app, ctx, input).await
}

/// Updates many secrets of one folder, all or none.
#[utoipa::path(patch, path = "/api/v4/secrets/batch", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn update_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    update(app, ctx, input).await
}

/// Deletes many secrets of one folder, all or none.
#[utoipa::path(delete, path = "/api/v4/secrets/batch", tag = "Secrets", request_body = BatchIn,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
async fn delete_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<BatchResponse>> {
    delete(app, ctx, input).await
}
