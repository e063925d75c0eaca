//! `/api/v2/secret-rotations`: the `dbt-service-token` resource and the type-agnostic routes.

pub(crate) mod input;
mod output;
mod sql;
mod sql_input;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Query, Validate};
use crate::providers::dbt::TYPE as DBT;
use crate::services::rotations::RotationView;
use crate::services::rotations::{
    CreateRotation, DeleteOptions, Page, RotationParameters, UpdateRotation, DBT_TYPE,
};
use crate::services::{AppState, Ctx};
pub(crate) use input::{CreateRotationIn, UpdateRotationIn};
use output::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all))
        .routes(routes!(options))
        .routes(routes!(list, create))
        .routes(routes!(get_by_name))
        .routes(routes!(get, update, delete))
        .routes(routes!(generated_credentials))
        .routes(routes!(rotate_secrets))
        .routes(routes!(check_credentials))
        .merge(sql::router())
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    #[serde(default)]
    pub(super) project_id: String,
    /// Rotations to skip, oldest first (rotad's own; upstream answers every rotation).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Rotations to answer at most (rotad's own), up to 10,000, which is also the default.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

impl ProjectQuery {
    pub(super) fn page(&self) -> Page {
        Page {
            offset: self.offset.unwrap_or(0),
            limit: self.limit.unwrap_or(Page::MAX_LIMIT),
        }
    }
}

impl Validate for ProjectQuery {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.project_id.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["projectId"],
                "Project ID required",
            ));
        }
        if self.offset.is_some_and(|o| o < 0) {
            issues.push(Issue::new(
                "too_small",
                &["offset"],
                "Number must be greater than or equal to 0",
            ));
        }
        if self
            .limit
            .is_some_and(|l| !(1..=Page::MAX_LIMIT).contains(&l))
        {
            issues.push(Issue::new(
                "too_big",
                &["limit"],
                format!("Number must be from 1 to {}", Page::MAX_LIMIT),
            ));
        }
        issues
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    #[serde(default)]
    pub(super) project_id: String,
    #[serde(default)]
    pub(super) environment: String,
    #[serde(default)]
    pub(super) secret_path: String,
}

impl Validate for NameQuery {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (field, value, message) in [
            ("projectId", &self.project_id, "Project ID required"),
            ("environment", &self.environment, "Environment required"),
            ("secretPath", &self.secret_path, "Secret path required"),
        ] {
            if value.trim().is_empty() {
                issues.push(Issue::new("too_small", &[field], message));
            }
        }
        issues
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` or `false`.
    pub(super) delete_secrets: Option<String>,
    /// `true` or `false`.
    pub(super) revoke_generated_credentials: Option<String>,
}

impl DeleteQuery {
    pub(super) fn options(&self) -> DeleteOptions {
        DeleteOptions {
            delete_secrets: self.delete_secrets.as_deref() == Some("true"),
            revoke_generated_credentials: self.revoke_generated_credentials.as_deref()
                == Some("true"),
        }
    }
}

impl Validate for DeleteQuery {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (field, value) in [
            ("deleteSecrets", &self.delete_secrets),
            (
                "revokeGeneratedCredentials",
                &self.revoke_generated_credentials,
            ),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v != "true" && v != "false")
            {
                issues.push(Issue::new(
                    "invalid_enum_value",
                    &[field],
                    "Invalid enum value. Expected 'true' | 'false'",
                ));
            }
        }
        issues
    }
}

/// Lists the project's rotations of every type.
#[utoipa::path(get, path = "/api/v2/secret-rotations", tag = "Secret Rotations", params(ProjectQuery),
    responses((status = 200, body = SecretRotationsResponse)), security(("bearer" = [])))]
async fn list_all(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<SecretRotationsResponse>> {
    let views = app
        .list_rotations(&ctx, q.project_id.trim(), None, q.page())
        .await?;
    Ok(Json(SecretRotationsResponse {
        secret_rotations: views.into_iter().map(Into::into).collect(),
    }))
}

/// The rotation types this server offers.
#[utoipa::path(get, path = "/api/v2/secret-rotations/options", tag = "Secret Rotations",
    responses((status = 200, body = RotationOptionsResponse)), security(("bearer" = [])))]
async fn options(Auth(_): Auth) -> Json<RotationOptionsResponse> {
    Json(RotationOptionsResponse::all())
}

/// Lists the project's DBT Service Token rotations.
#[utoipa::path(get, path = "/api/v2/secret-rotations/dbt-service-token", tag = "Secret Rotations",
    operation_id = "listDBTServiceTokenRotations", params(ProjectQuery),
    responses((status = 200, body = SecretRotationsResponse)), security(("bearer" = [])))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<SecretRotationsResponse>> {
    let views = app
        .list_rotations(&ctx, q.project_id.trim(), Some(&DBT), q.page())
        .await?;
    Ok(Json(SecretRotationsResponse {
        secret_rotations: views.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a DBT Service Token rotation: issues the first token and publishes it.
#[utoipa::path(post, path = "/api/v2/secret-rotations/dbt-service-token", tag = "Secret Rotations",
    operation_id = "createDBTServiceTokenRotation", request_body = CreateRotationIn,
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateRotationIn>,
) -> Result<Json<SecretRotationResponse>> {
    Ok(Json(SecretRotationResponse {
        secret_rotation: create_from(&app, &ctx, input).await?.into(),
    }))
}

/// Creates a DBT Service Token rotation from the API's body (the dashboard's form builds the
/// same body, so both answer with the same rules and messages).
pub(crate) async fn create_from(
    app: &AppState,
    ctx: &Ctx,
    input: CreateRotationIn,
) -> Result<RotationView> {
    let audit_body = serde_json::to_value(&input).unwrap_or_default();
    app.create_rotation(
        ctx,
        &DBT,
        CreateRotation {
            name: input.name.trim().to_string(),
            project_id: input.project_id.trim().to_string(),
            description: input.description.map(|d| d.trim().to_string()),
            connection_id: input.connection_id.trim().to_string(),
            environment: input.environment.trim().to_string(),
            secret_path: input.secret_path.trim().to_string(),
            is_auto_rotation_enabled: input.is_auto_rotation_enabled.unwrap_or(true),
            rotation_interval: input.rotation_interval as i64,
            rotate_at: input.rotate_at_utc.as_ref().map(|a| a.pair()),
            parameters: RotationParameters::Dbt(input.parameters.into_domain()),
            secrets_mapping: input.secrets_mapping.into_domain().into(),
            audit_body,
        },
    )
    .await
}

/// Gets a rotation by name in a project's folder.
#[utoipa::path(get, path = "/api/v2/secret-rotations/dbt-service-token/rotation-name/{rotationName}", tag = "Secret Rotations",
    operation_id = "getDBTServiceTokenRotationByName", params(("rotationName" = String, Path), NameQuery),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn get_by_name(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Query(q): Query<NameQuery>,
) -> Result<Json<SecretRotationResponse>> {
    let view = app
        .get_rotation_by_name(
            &ctx,
            &DBT,
            name.trim(),
            q.project_id.trim(),
            q.environment.trim(),
            q.secret_path.trim(),
        )
        .await?;
    Ok(Json(SecretRotationResponse {
        secret_rotation: view.into(),
    }))
}

/// Gets a rotation.
#[utoipa::path(get, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}", tag = "Secret Rotations",
    operation_id = "getDBTServiceTokenRotation", params(("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = uuid_param("rotationId", &id)?;
    let entry = app.get_rotation_entry(&ctx, &DBT, &id).await?;
    // A view holds no secret: its answer is rendered once per cached entry.
    let body = entry.rendered(|view| {
        let answer = SecretRotationResponse {
            secret_rotation: view.clone().into(),
        };
        serde_json::to_vec(&answer).unwrap_or_default().into()
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Updates the specified DBT Service Token Rotation.
#[utoipa::path(patch, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}", tag = "Secret Rotations",
    operation_id = "updateDBTServiceTokenRotation", params(("rotationId" = String, Path, format = Uuid)),
    request_body = UpdateRotationIn, responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateRotationIn>,
) -> Result<Json<SecretRotationResponse>> {
    let id = uuid_param("rotationId", &id)?;
    Ok(Json(SecretRotationResponse {
        secret_rotation: update_from(&app, &ctx, &id, input).await?.into(),
    }))
}

/// Applies the API's PATCH body to a DBT Service Token rotation (also the dashboard's edits).
pub(crate) async fn update_from(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
    input: UpdateRotationIn,
) -> Result<RotationView> {
    let audit_body = serde_json::to_value(&input).unwrap_or_default();
    let change = UpdateRotation {
        kind: &DBT,
        name: input.name.map(|n| n.trim().to_string()),
        description: input.description.map(|d| d.map(|d| d.trim().to_string())),
        is_auto_rotation_enabled: input.is_auto_rotation_enabled,
        rotation_interval: input.rotation_interval.map(|i| i as i64),
        rotate_at: input.rotate_at_utc.as_ref().map(|a| a.pair()),
        parameters: input.parameters.map(|p| p.into_domain()),
        secrets_mapping: input.secrets_mapping.map(|m| m.into_domain()),
        audit_body,
    };
    app.update_rotation(ctx, id, change).await
}

/// Deletes a rotation; optionally its secret and its live tokens.
#[utoipa::path(delete, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}", tag = "Secret Rotations",
    operation_id = "deleteDBTServiceTokenRotation", params(("rotationId" = String, Path, format = Uuid), DeleteQuery),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<SecretRotationResponse>> {
    let id = uuid_param("rotationId", &id)?;
    Ok(Json(SecretRotationResponse {
        secret_rotation: app
            .delete_rotation(&ctx, &DBT, &id, q.options())
            .await?
            .into(),
    }))
}

/// The tokens in both slots, in clear text, and which one is published.
#[utoipa::path(get, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}/generated-credentials", tag = "Secret Rotations",
    operation_id = "getDBTServiceTokenRotationGeneratedCredentials", params(("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = GeneratedCredentialsResponse)), security(("bearer" = [])))]
async fn generated_credentials(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<GeneratedCredentialsResponse>> {
    let id = uuid_param("rotationId", &id)?;
    let generated = app.generated_credentials(&ctx, &DBT, &id).await?;
    Ok(Json(GeneratedCredentialsResponse {
        generated_credentials: generated.credentials.into_iter().map(Into::into).collect(),
        active_index: generated.active_index,
        rotation_id: id,
        kind: DBT_TYPE.to_string(),
    }))
}

/// Rotates now: issues a new token, publishes it, revokes the one from two rotations ago.
#[utoipa::path(post, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}/rotate-secrets", tag = "Secret Rotations",
    operation_id = "rotateDBTServiceTokenRotation", params(("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn rotate_secrets(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SecretRotationResponse>> {
    let id = uuid_param("rotationId", &id)?;
    Ok(Json(SecretRotationResponse {
        secret_rotation: app.rotate_now(&ctx, &DBT, &id).await?.into(),
    }))
}

/// Checks that the published token is live in dbt Cloud: 204, or 400 with the reason.
#[utoipa::path(post, path = "/api/v2/secret-rotations/dbt-service-token/{rotationId}/check-credentials", tag = "Secret Rotations",
    operation_id = "checkDBTServiceTokenRotationCredentials", params(("rotationId" = String, Path, format = Uuid)),
    responses((status = 204, description = "The active token is live")), security(("bearer" = [])))]
async fn check_credentials(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = uuid_param("rotationId", &id)?;
    app.check_credentials(&ctx, &DBT, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
