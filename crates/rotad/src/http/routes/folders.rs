//! Folders: `/api/v1/folders` (with `workspaceId`) and `/api/v2/folders` (with `projectId`).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Query, Validate};
use crate::services::projects::normalize_path;
use crate::services::AppState;
use crate::store::Folder;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_folder_v1, list_folders_v1))
        .routes(routes!(create_folder_v2, list_folders_v2))
        .routes(routes!(delete_folder))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderOut {
    id: String,
    name: String,
    path: String,
    parent_id: Option<String>,
    env_id: String,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl From<Folder> for FolderOut {
    fn from(f: Folder) -> Self {
        Self {
            id: f.id,
            name: f.name,
            path: f.path,
            parent_id: f.parent_id,
            env_id: f.env_id,
            version: 1,
            created_at: rfc3339(f.created_at),
            updated_at: rfc3339(f.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FolderResponse {
    folder: FolderOut,
}

#[derive(Serialize, ToSchema)]
pub struct FoldersResponse {
    folders: Vec<FolderOut>,
}

/// Either `projectId` or the older `workspaceId` names the project.
#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FolderIn {
    project_id: Option<String>,
    workspace_id: Option<String>,
    environment: String,
    #[serde(default)]
    name: String,
    #[serde(alias = "directory")]
    path: Option<String>,
}

impl FolderIn {
    fn project(&self) -> &str {
        self.project_id
            .as_deref()
            .or(self.workspace_id.as_deref())
            .unwrap_or("")
    }
}

/// A folder name, as `services::projects::create_folder` allows it.
const MAX_FOLDER_NAME: usize = 64;
/// A folder's whole path: well inside what a PostgreSQL btree entry holds (about 2,700 bytes,
/// the `(env_id, path)` unique index), so deep nesting is a 422 rather than a 500.
const MAX_FOLDER_PATH: usize = 1024;

impl Validate for FolderIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let name = self.name.trim();
        if name.chars().count() > MAX_FOLDER_NAME {
            issues.push(Issue::new(
                "too_big",
                &["name"],
                format!("Folder name must be at most {MAX_FOLDER_NAME} characters"),
            ));
        } else if let Some(parent) = normalize_path(self.path.as_deref()) {
            // The path of the folder named `name` under `path` (or `path` itself, for lists).
            let length = if name.is_empty() || parent == "/" {
                parent.len() + name.len()
            } else {
                parent.len() + 1 + name.len()
            };
            if length > MAX_FOLDER_PATH {
                issues.push(Issue::new(
                    "too_big",
                    &["path"],
                    format!("A folder path must be at most {MAX_FOLDER_PATH} characters"),
                ));
            }
        }
        if self.project().trim().is_empty() {
            issues.push(Issue::new(
                "invalid_type",
                &["projectId"],
                "Project ID required",
            ));
        }
        if self.environment.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["environment"],
                "Environment required",
            ));
        }
        issues
    }
}

async fn create(
    app: AppState,
    ctx: crate::services::Ctx,
    input: FolderIn,
) -> Result<Json<FolderResponse>> {
    let (folder, _) = app
        .create_folder(
            &ctx,
            input.project(),
            &input.environment,
            input.path.as_deref(),
            &input.name,
        )
        .await?;
    Ok(Json(FolderResponse {
        folder: folder.into(),
    }))
}

async fn list(
    app: AppState,
    ctx: crate::services::Ctx,
    input: FolderIn,
) -> Result<Json<FoldersResponse>> {
    let folders = app
        .list_folders(
            &ctx,
            input.project(),
            &input.environment,
            input.path.as_deref(),
        )
        .await?;
    Ok(Json(FoldersResponse {
        folders: folders.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a folder under `path`.
#[utoipa::path(post, path = "/api/v1/folders", tag = "Folders", request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn create_folder_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    create(app, ctx, input).await
}

/// Creates a folder under `path`.
#[utoipa::path(post, path = "/api/v2/folders", tag = "Folders", request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn create_folder_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    create(app, ctx, input).await
}

/// Lists the folders directly under `path`.
#[utoipa::path(get, path = "/api/v1/folders", tag = "Folders", params(FolderIn),
    responses((status = 200, body = FoldersResponse)), security(("bearer" = [])))]
async fn list_folders_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(input): Query<FolderIn>,
) -> Result<Json<FoldersResponse>> {
    list(app, ctx, input).await
}

/// Lists the folders directly under `path`.
#[utoipa::path(get, path = "/api/v2/folders", tag = "Folders", params(FolderIn),
    responses((status = 200, body = FoldersResponse)), security(("bearer" = [])))]
async fn list_folders_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(input): Query<FolderIn>,
) -> Result<Json<FoldersResponse>> {
    list(app, ctx, input).await
}

/// Deletes a folder (by id or name) under `path`, with everything below it.
#[utoipa::path(delete, path = "/api/v1/folders/{folderIdOrName}", tag = "Folders",
    params(("folderIdOrName" = String, Path)), request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn delete_folder(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id_or_name): Path<String>,
    Body(input): Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    let folder = app
        .delete_folder(
            &ctx,
            input.project(),
            &input.environment,
            input.path.as_deref(),
            &id_or_name,
        )
        .await?;
    Ok(Json(FolderResponse {
        folder: folder.into(),
    }))
}
