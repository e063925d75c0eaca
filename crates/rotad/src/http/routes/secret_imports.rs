//! Secret imports: `/api/v1/secret-imports` (with `workspaceId`) and `/api/v2/secret-imports`
//! (with `projectId`): create, list, update (source and place), delete, answered with upstream's
//! `secretImport` shape.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Query, Validate};
use crate::services::secret_imports::SecretImport;
use crate::services::secrets::Scope;
use crate::services::{AppState, Ctx};
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_v1, list_v1))
        .routes(routes!(update_v1, delete_v1))
        .routes(routes!(create_v2, list_v2))
        .routes(routes!(get_v2, update_v2, delete_v2))
}

#[derive(Serialize, ToSchema)]
pub struct ImportEnvOut {
    id: String,
    name: String,
    slug: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretImportOut {
    id: String,
    version: i64,
    import_path: String,
    import_env: ImportEnvOut,
    position: i64,
    folder_id: String,
    is_replication: bool,
    is_replication_success: Option<bool>,
    replication_status: Option<String>,
    last_replicated: Option<String>,
    is_reserved: bool,
    created_at: String,
    updated_at: String,
}

impl From<SecretImport> for SecretImportOut {
    fn from(i: SecretImport) -> Self {
        Self {
            id: i.row.id,
            version: 1,
            import_path: i.row.import_path,
            import_env: ImportEnvOut {
                id: i.environment.id,
                name: i.environment.name,
                slug: i.environment.slug,
            },
            position: i.row.position,
            folder_id: i.row.folder_id,
            is_replication: false,
            is_replication_success: None,
            replication_status: None,
            last_replicated: None,
            is_reserved: false,
            created_at: rfc3339(i.row.created_at),
            updated_at: rfc3339(i.row.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretImportResponse {
    message: String,
    secret_import: SecretImportOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretImportOnlyResponse {
    secret_import: SecretImportOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretImportsResponse {
    secret_imports: Vec<SecretImportOut>,
}

/// Where secrets are imported from.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportFromIn {
    environment: String,
    #[serde(default)]
    path: Option<String>,
}

/// A new import: the folder (`workspaceId` or `projectId`, `environment`, `path`) and where
/// it imports from.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateImportIn {
    workspace_id: Option<String>,
    project_id: Option<String>,
    environment: String,
    path: Option<String>,
    import: ImportFromIn,
    #[serde(default)]
    is_replication: bool,
}

fn project_issue(id: &Option<String>, other: &Option<String>) -> Option<Issue> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    (!given(id) && !given(other)).then(|| {
        Issue::new(
            "invalid_type",
            &["projectId"],
            "Either projectId or workspaceId is required",
        )
    })
}

fn environment_issue(field: &[&str], environment: &str) -> Option<Issue> {
    environment
        .trim()
        .is_empty()
        .then(|| Issue::new("too_small", field, "Environment required"))
}

impl Validate for CreateImportIn {
    const BODY_REQUIRED: bool = true;

    fn validate(&self) -> Vec<Issue> {
        project_issue(&self.project_id, &self.workspace_id)
            .into_iter()
            .chain(environment_issue(&["environment"], &self.environment))
            .chain(environment_issue(
                &["import", "environment"],
                &self.import.environment,
            ))
            .collect()
    }
}

/// What an import changes to: where it imports from, and its place among the folder's imports
/// (1 is first; past the end is last). What is left out is kept.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportChangeIn {
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    position: Option<i64>,
}

/// An import's folder (`workspaceId` or `projectId`, `environment`, `path`) and its change.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateImportIn {
    workspace_id: Option<String>,
    project_id: Option<String>,
    environment: String,
    path: Option<String>,
    import: ImportChangeIn,
}

impl Validate for UpdateImportIn {
    const BODY_REQUIRED: bool = true;

    fn validate(&self) -> Vec<Issue> {
        let position = self.import.position.filter(|p| *p < 1).map(|_| {
            Issue::new(
                "too_small",
                &["import", "position"],
                "Position must be 1 or more",
            )
        });
        project_issue(&self.project_id, &self.workspace_id)
            .into_iter()
            .chain(environment_issue(&["environment"], &self.environment))
            .chain(
                self.import
                    .environment
                    .as_deref()
                    .and_then(|e| environment_issue(&["import", "environment"], e)),
            )
            .chain(position)
            .collect()
    }
}

/// The folder whose imports are listed or deleted from.
#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FolderIn {
    workspace_id: Option<String>,
    project_id: Option<String>,
    #[serde(default)]
    environment: String,
    path: Option<String>,
}

impl Validate for FolderIn {
    fn validate(&self) -> Vec<Issue> {
        project_issue(&self.project_id, &self.workspace_id)
            .into_iter()
            .chain(environment_issue(&["environment"], &self.environment))
            .collect()
    }
}

fn scope(
    project: &Option<String>,
    other: &Option<String>,
    env: &str,
    path: &Option<String>,
) -> Scope {
    Scope {
        project_id: project
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .or(other.as_deref())
            .unwrap_or("")
            .trim()
            .to_string(),
        environment: env.to_string(),
        secret_path: path.clone(),
    }
}

async fn create(
    app: AppState,
    ctx: Ctx,
    input: CreateImportIn,
) -> Result<Json<SecretImportResponse>> {
    let scope = scope(
        &input.project_id,
        &input.workspace_id,
        &input.environment,
        &input.path,
    );
    let import = app
        .create_secret_import(
            &ctx,
            &scope,
            &input.import.environment,
            input.import.path.as_deref().unwrap_or("/"),
            input.is_replication,
        )
        .await?;
    Ok(Json(SecretImportResponse {
        message: "Successfully created secret import".to_string(),
        secret_import: import.into(),
    }))
}

async fn list(app: AppState, ctx: Ctx, q: FolderIn) -> Result<Json<SecretImportsResponse>> {
    let scope = scope(&q.project_id, &q.workspace_id, &q.environment, &q.path);
    let imports = app.list_secret_imports(&ctx, &scope).await?;
    Ok(Json(SecretImportsResponse {
        secret_imports: imports.into_iter().map(Into::into).collect(),
    }))
}

async fn update(
    app: AppState,
    ctx: Ctx,
    id: String,
    input: UpdateImportIn,
) -> Result<Json<SecretImportResponse>> {
    let scope = scope(
        &input.project_id,
        &input.workspace_id,
        &input.environment,
        &input.path,
    );
    let import = app
        .update_secret_import(
            &ctx,
            &scope,
            &id,
            input.import.environment.as_deref(),
            input.import.path.as_deref(),
            input.import.position,
        )
        .await?;
    Ok(Json(SecretImportResponse {
        message: "Successfully updated secret import".to_string(),
        secret_import: import.into(),
    }))
}

async fn delete(
    app: AppState,
    ctx: Ctx,
    id: String,
    input: FolderIn,
) -> Result<Json<SecretImportResponse>> {
    let scope = scope(
        &input.project_id,
        &input.workspace_id,
        &input.environment,
        &input.path,
    );
    let import = app.delete_secret_import(&ctx, &scope, &id).await?;
    Ok(Json(SecretImportResponse {
        message: "Successfully deleted secret import".to_string(),
        secret_import: import.into(),
    }))
}

/// Imports another folder's secrets into a folder.
#[utoipa::path(post, path = "/api/v1/secret-imports", tag = "Secret Imports",
    request_body = CreateImportIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn create_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateImportIn>,
) -> Result<Json<SecretImportResponse>> {
    create(app, ctx, input).await
}

/// Lists a folder's imports, by position.
#[utoipa::path(get, path = "/api/v1/secret-imports", tag = "Secret Imports", params(FolderIn),
    responses((status = 200, body = SecretImportsResponse)), security(("bearer" = [])))]
async fn list_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<FolderIn>,
) -> Result<Json<SecretImportsResponse>> {
    list(app, ctx, q).await
}

/// Changes where an import of a folder imports from, or its place among the folder's imports.
#[utoipa::path(patch, path = "/api/v1/secret-imports/{secretImportId}", tag = "Secret Imports",
    params(("secretImportId" = String, Path)), request_body = UpdateImportIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn update_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateImportIn>,
) -> Result<Json<SecretImportResponse>> {
    update(app, ctx, id, input).await
}

/// Deletes an import of a folder.
#[utoipa::path(delete, path = "/api/v1/secret-imports/{secretImportId}", tag = "Secret Imports",
    params(("secretImportId" = String, Path)), request_body = FolderIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn delete_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<FolderIn>,
) -> Result<Json<SecretImportResponse>> {
    delete(app, ctx, id, input).await
}

/// Imports another folder's secrets into a folder.
#[utoipa::path(post, path = "/api/v2/secret-imports", tag = "Secret Imports",
    request_body = CreateImportIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn create_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateImportIn>,
) -> Result<Json<SecretImportResponse>> {
    create(app, ctx, input).await
}

/// Lists a folder's imports, by position.
#[utoipa::path(get, path = "/api/v2/secret-imports", tag = "Secret Imports", params(FolderIn),
    responses((status = 200, body = SecretImportsResponse)), security(("bearer" = [])))]
async fn list_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<FolderIn>,
) -> Result<Json<SecretImportsResponse>> {
    list(app, ctx, q).await
}

/// Gets an import by id.
#[utoipa::path(get, path = "/api/v2/secret-imports/{secretImportId}", tag = "Secret Imports",
    params(("secretImportId" = String, Path)),
    responses((status = 200, body = SecretImportOnlyResponse)), security(("bearer" = [])))]
async fn get_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<SecretImportOnlyResponse>> {
    let import = app.get_secret_import(&ctx, &id).await?;
    Ok(Json(SecretImportOnlyResponse {
        secret_import: import.into(),
    }))
}

/// Changes where an import of a folder imports from, or its place among the folder's imports.
#[utoipa::path(patch, path = "/api/v2/secret-imports/{secretImportId}", tag = "Secret Imports",
    params(("secretImportId" = String, Path)), request_body = UpdateImportIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn update_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateImportIn>,
) -> Result<Json<SecretImportResponse>> {
    update(app, ctx, id, input).await
}

/// Deletes an import of a folder.
#[utoipa::path(delete, path = "/api/v2/secret-imports/{secretImportId}", tag = "Secret Imports",
    params(("secretImportId" = String, Path)), request_body = FolderIn,
    responses((status = 200, body = SecretImportResponse)), security(("bearer" = [])))]
async fn delete_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<FolderIn>,
) -> Result<Json<SecretImportResponse>> {
    delete(app, ctx, id, input).await
}
