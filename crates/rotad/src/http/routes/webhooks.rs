//! Webhooks: `/api/v1/webhooks` (create, list, enable/disable, delete, test), as upstream.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Query, Validate};
use crate::services::webhooks::{self, CreateWebhook, WebhookView};
use crate::services::AppState;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(update_webhook, delete_webhook))
        .routes(routes!(test_webhook))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookEnvironment {
    id: String,
    name: String,
    slug: String,
}

/// A webhook; its signing key is never shown, and its URL is shown whole only to those who may
/// edit webhooks (readers get scheme and host).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOut {
    id: String,
    project_id: String,
    env_id: String,
    secret_path: String,
    url: String,
    #[serde(rename = "type")]
    webhook_type: String,
    is_disabled: bool,
    last_status: Option<String>,
    last_run_error_message: Option<String>,
    created_at: String,
    updated_at: String,
    environment: WebhookEnvironment,
}

impl From<WebhookView> for WebhookOut {
    fn from(v: WebhookView) -> Self {
        Self {
            id: v.row.id,
            project_id: v.row.project_id,
            env_id: v.row.env_id,
            secret_path: v.row.secret_path,
            url: v.url,
            webhook_type: v.row.webhook_type,
            is_disabled: v.row.is_disabled,
            last_status: v.row.last_status,
            last_run_error_message: v.row.last_run_error_message,
            created_at: rfc3339(v.row.created_at),
            updated_at: rfc3339(v.row.updated_at),
            environment: WebhookEnvironment {
                id: v.environment.id,
                name: v.environment.name,
                slug: v.environment.slug,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WebhookResponse {
    message: String,
    webhook: WebhookOut,
}

#[derive(Serialize, ToSchema)]
pub struct WebhooksResponse {
    message: String,
    webhooks: Vec<WebhookOut>,
}

fn answer(message: &str, view: WebhookView) -> Json<WebhookResponse> {
    Json(WebhookResponse {
        message: message.to_string(),
        webhook: view.into(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookIn {
    /// The project (`projectId` is accepted too).
    #[serde(alias = "projectId")]
    workspace_id: String,
    environment: String,
    /// At most 2048 characters. Shown whole to those who may edit webhooks, to readers as
    /// scheme and host only.
    #[schema(max_length = 2048)]
    webhook_url: String,
    /// Signs each delivery (`x-infisical-signature`); at most 256 characters; never shown.
    #[schema(max_length = 256)]
    webhook_secret_key: Option<String>,
    /// A folder path; `/**` at the end covers every folder below it. Default `/`.
    secret_path: Option<String>,
    /// Only `general`.
    #[serde(rename = "type")]
    webhook_type: Option<String>,
}

impl Validate for CreateWebhookIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.workspace_id.trim().is_empty() {
            issues.push(Issue::new("too_small", &["workspaceId"], "Required"));
        }
        if self.environment.trim().is_empty() {
            issues.push(Issue::new("too_small", &["environment"], "Required"));
        }
        if self.webhook_url.trim().is_empty() {
            issues.push(Issue::new("invalid_string", &["webhookUrl"], "Invalid url"));
        }
        issues.extend(webhooks::length_issues(
            &self.webhook_url,
            self.webhook_secret_key.as_deref(),
        ));
        issues
    }
}

/// Creates a webhook for an environment and folder of a project.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "Webhooks", request_body = CreateWebhookIn,
    responses((status = 200, body = WebhookResponse)), security(("bearer" = [])))]
async fn create_webhook(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateWebhookIn>,
) -> Result<Json<WebhookResponse>> {
    let view = app
        .create_webhook(
            &ctx,
            CreateWebhook {
                project_id: input.workspace_id,
                environment: input.environment,
                secret_path: input.secret_path,
                webhook_url: input.webhook_url,
                webhook_secret_key: input.webhook_secret_key,
                webhook_type: input.webhook_type,
            },
        )
        .await?;
    Ok(answer("Successfully created webhook", view))
}

#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListWebhooksIn {
    #[serde(alias = "projectId")]
    workspace_id: String,
    environment: Option<String>,
    secret_path: Option<String>,
}

impl Validate for ListWebhooksIn {
    fn validate(&self) -> Vec<Issue> {
        if self.workspace_id.trim().is_empty() {
            return vec![Issue::new("too_small", &["workspaceId"], "Required")];
        }
        Vec::new()
    }
}

/// Lists a project's webhooks, optionally of one environment and folder.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "Webhooks", params(ListWebhooksIn),
    responses((status = 200, body = WebhooksResponse)), security(("bearer" = [])))]
async fn list_webhooks(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(input): Query<ListWebhooksIn>,
) -> Result<Json<WebhooksResponse>> {
    let views = app
        .list_webhooks(
            &ctx,
            &input.workspace_id,
            input.environment.as_deref(),
            input.secret_path.as_deref(),
        )
        .await?;
    Ok(Json(WebhooksResponse {
        message: "Successfully fetched webhook".to_string(),
        webhooks: views.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateWebhookIn {
    is_disabled: bool,
}

impl Validate for UpdateWebhookIn {}

/// Enables or disables a webhook.
#[utoipa::path(patch, path = "/api/v1/webhooks/{webhookId}", tag = "Webhooks",
    params(("webhookId" = String, Path)), request_body = UpdateWebhookIn,
    responses((status = 200, body = WebhookResponse)), security(("bearer" = [])))]
async fn update_webhook(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateWebhookIn>,
) -> Result<Json<WebhookResponse>> {
    let view = app
        .set_webhook_disabled(&ctx, &id, input.is_disabled)
        .await?;
    Ok(answer("Successfully updated webhook", view))
}

/// Deletes a webhook and its pending deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{webhookId}", tag = "Webhooks",
    params(("webhookId" = String, Path)),
    responses((status = 200, body = WebhookResponse)), security(("bearer" = [])))]
async fn delete_webhook(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<WebhookResponse>> {
    let view = app.delete_webhook(&ctx, &id).await?;
    Ok(answer("Successfully deleted webhook", view))
}

/// Sends a `test` event now; the outcome is in `lastStatus` and `lastRunErrorMessage`.
#[utoipa::path(post, path = "/api/v1/webhooks/{webhookId}/test", tag = "Webhooks",
    params(("webhookId" = String, Path)),
    responses((status = 200, body = WebhookResponse)), security(("bearer" = [])))]
async fn test_webhook(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<WebhookResponse>> {
    let view = app.test_webhook(&ctx, &id).await?;
    Ok(answer("Successfully tested webhook", view))
}
