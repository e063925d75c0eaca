//! `/api/v2/secret-rotations/{rotationType}` for the database credentials types
//! (`mysql-credentials`): every route the dbt type has, with upstream's shapes.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::output::*;
use super::sql_input::{CreateSqlRotationIn, UpdateSqlRotationIn};
use super::{DeleteQuery, NameQuery, ProjectQuery};
use crate::error::{Error, Result};
use crate::http::extract::{path_param, uuid_param, Auth, Body, Query};
use crate::providers::{mysql, postgres, RotationType};
use crate::services::rotations::{CreateRotation, RotationParameters, UpdateRotation};
use crate::services::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_by_name))
        .routes(routes!(get, update, delete))
        .routes(routes!(generated_credentials))
        .routes(routes!(rotate_secrets))
        .routes(routes!(check_credentials))
}

/// The database rotation types, by the path segment that names them.
fn sql_type(slug: &str) -> Result<&'static RotationType> {
    match slug {
        s if s == mysql::TYPE.slug => Ok(&mysql::TYPE),
        s if s == postgres::TYPE.slug => Ok(&postgres::TYPE),
        other => Err(Error::not_found(format!(
            "rotad has no secret rotations of type \"{other}\""
        ))),
    }
}

/// The database rotation type a request's path names (`{rotationType}`): every route
/// dispatches on it here.
pub struct SqlType(&'static RotationType);

impl FromRequestParts<AppState> for SqlType {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self> {
        sql_type(&path_param(parts, "rotationType").await?).map(SqlType)
    }
}

/// The type and the rotation (`{rotationId}`, a UUID) of a route under one rotation.
pub struct RotationAt {
    kind: &'static RotationType,
    id: String,
}

impl FromRequestParts<AppState> for RotationAt {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let SqlType(kind) = SqlType::from_request_parts(parts, state).await?;
        let id = uuid_param("rotationId", &path_param(parts, "rotationId").await?)?;
        Ok(RotationAt { kind, id })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[serde(rename_all = "camelCase")]
pub struct TypePath {
    /// `mysql-credentials` or `postgres-credentials`.
    #[allow(dead_code)]
    rotation_type: String,
}

/// Lists the project's rotations of a database type.
#[utoipa::path(get, path = "/api/v2/secret-rotations/{rotationType}", tag = "Secret Rotations",
    params(TypePath, ProjectQuery), responses((status = 200, body = SecretRotationsResponse)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlType(kind): SqlType,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<SecretRotationsResponse>> {
    let views = app
        .list_rotations(&ctx, q.project_id.trim(), Some(kind), q.page())
        .await?;
    Ok(Json(SecretRotationsResponse {
        secret_rotations: views.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a database credentials rotation: checks both users, sets the first one's password
/// and publishes it.
#[utoipa::path(post, path = "/api/v2/secret-rotations/{rotationType}", tag = "Secret Rotations",
    params(TypePath), request_body = CreateSqlRotationIn,
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlType(kind): SqlType,
    Body(input): Body<CreateSqlRotationIn>,
) -> Result<Json<SecretRotationResponse>> {
    let audit_body = serde_json::to_value(&input).unwrap_or_default();
    let view = app
        .create_rotation(
            &ctx,
            kind,
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
                parameters: RotationParameters::Sql(input.parameters.into_domain()),
                secrets_mapping: input.secrets_mapping.into_domain(),
                audit_body,
            },
        )
        .await?;
    Ok(Json(SecretRotationResponse {
        secret_rotation: view.into(),
    }))
}

/// Gets a database rotation by name in a project's folder.
#[utoipa::path(get, path = "/api/v2/secret-rotations/{rotationType}/rotation-name/{rotationName}",
    tag = "Secret Rotations", params(TypePath, ("rotationName" = String, Path), NameQuery),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn get_by_name(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlType(kind): SqlType,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<NameQuery>,
) -> Result<Json<SecretRotationResponse>> {
    let view = app
        .get_rotation_by_name(
            &ctx,
            kind,
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

/// Gets a database rotation.
#[utoipa::path(get, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
) -> Result<Json<SecretRotationResponse>> {
    Ok(Json(SecretRotationResponse {
        secret_rotation: app.get_rotation(&ctx, kind, &id).await?.into(),
    }))
}

/// Changes a database rotation's settings.
#[utoipa::path(patch, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid)),
    request_body = UpdateSqlRotationIn, responses((status = 200, body = SecretRotationResponse)),
    security(("bearer" = [])))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
    Body(input): Body<UpdateSqlRotationIn>,
) -> Result<Json<SecretRotationResponse>> {
    let audit_body = serde_json::to_value(&input).unwrap_or_default();
    let change = UpdateRotation {
        kind,
        name: input.name.map(|n| n.trim().to_string()),
        description: input.description.map(|d| d.map(|d| d.trim().to_string())),
        is_auto_rotation_enabled: input.is_auto_rotation_enabled,
        rotation_interval: input.rotation_interval.map(|i| i as i64),
        rotate_at: input.rotate_at_utc.as_ref().map(|a| a.pair()),
        parameters: None,
        secrets_mapping: None,
        audit_body,
    };
    Ok(Json(SecretRotationResponse {
        secret_rotation: app.update_rotation(&ctx, &id, change).await?.into(),
    }))
}

/// Deletes a database rotation; optionally its secrets, and (revokeGeneratedCredentials) both
/// users get passwords nobody keeps.
#[utoipa::path(delete, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid), DeleteQuery),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<SecretRotationResponse>> {
    Ok(Json(SecretRotationResponse {
        secret_rotation: app
            .delete_rotation(&ctx, kind, &id, q.options())
            .await?
            .into(),
    }))
}

/// Both slots' logins in clear text, and which one is published.
#[utoipa::path(get, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}/generated-credentials",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = GeneratedCredentialsResponse)), security(("bearer" = [])))]
async fn generated_credentials(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
) -> Result<Json<GeneratedCredentialsResponse>> {
    let generated = app.generated_credentials(&ctx, kind, &id).await?;
    Ok(Json(GeneratedCredentialsResponse {
        generated_credentials: generated.credentials.into_iter().map(Into::into).collect(),
        active_index: generated.active_index,
        rotation_id: id,
        kind: kind.slug.to_string(),
    }))
}

/// Rotates now: a new password on the inactive user, verified, then published.
#[utoipa::path(post, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}/rotate-secrets",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid)),
    responses((status = 200, body = SecretRotationResponse)), security(("bearer" = [])))]
async fn rotate_secrets(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
) -> Result<Json<SecretRotationResponse>> {
    Ok(Json(SecretRotationResponse {
        secret_rotation: app.rotate_now(&ctx, kind, &id).await?.into(),
    }))
}

/// Checks that the published login works: 204, or 400 with the reason.
#[utoipa::path(post, path = "/api/v2/secret-rotations/{rotationType}/{rotationId}/check-credentials",
    tag = "Secret Rotations", params(TypePath, ("rotationId" = String, Path, format = Uuid)),
    responses((status = 204, description = "The active login works")), security(("bearer" = [])))]
async fn check_credentials(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    RotationAt { kind, id }: RotationAt,
) -> Result<StatusCode> {
    app.check_credentials(&ctx, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
