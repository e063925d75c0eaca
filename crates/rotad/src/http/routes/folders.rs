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
    is_reserved: bool,
    description: Option<String>,
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
            is_reserved: false,
            description: f.description,
            created_at: rfc3339(f.created_at),
            updated_at: rfc3339(f.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FolderResponse {
    folder: FolderOut,
}

impl From<Folder> for FolderResponse {
    fn from(folder: Folder) -> Self {
        Self {
            folder: folder.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FoldersResponse {
    folders: Vec<FolderListItem>,
}

/// A listed folder; with `recursive=true` also its path relative to the listed path.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderListItem {
    #[serde(flatten)]
    folder: FolderOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    relative_path: Option<String>,
}

/// The list's query: the folder's place, and `recursive` for the whole subtree.
#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FolderQuery {
    project_id: Option<String>,
    workspace_id: Option<String>,
    environment: String,
    #[serde(alias = "directory")]
    path: Option<String>,
    /// `true` (any case) or `1` lists every folder below `path`.
    recursive: Option<String>,
}

impl FolderQuery {
    fn recursive(&self) -> bool {
        self.recursive
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("true") || r == "1")
    }
}

impl Validate for FolderQuery {
    fn validate(&self) -> Vec<Issue> {
        FolderIn {
            project_id: self.project_id.clone(),
            workspace_id: self.workspace_id.clone(),
            environment: self.environment.clone(),
            name: String::new(),
            path: self.path.clone(),
            description: None,
        }
        .validate()
    }
}

/// Either `projectId` or the older `workspaceId` names the project.
#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FolderIn {
    project_id: Option<String>,
    workspace_id: Option<String>,
    pub(super) environment: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(alias = "directory")]
    pub(super) path: Option<String>,
    pub(super) description: Option<String>,
}

impl FolderIn {
    pub(super) fn project(&self) -> &str {
        self.project_id
            .as_deref()
            .or(self.workspace_id.as_deref())
            .unwrap_or("")
    }
}

/// A folder name, as `services::folders` allows it.
const MAX_FOLDER_NAME: usize = 64;
/// A folder's whole path: well inside what a PostgreSQL btree entry holds (about 2,700 bytes,
/// the `(env_id, path)` unique index), so deep nesting is a 422 rather than a 500.
use crate::services::folders::MAX_FOLDER_PATH;
/// A folder's description.
pub(crate) const MAX_FOLDER_DESCRIPTION: usize = 1024;

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
        if self
            .description
            .as_deref()
            .is_some_and(|d| d.chars().count() > MAX_FOLDER_DESCRIPTION)
        {
            issues.push(Issue::new(
                "too_big",
                &["description"],
                format!("Description must be at most {MAX_FOLDER_DESCRIPTION} characters"),
            ));
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
            input.description.as_deref(),
        )
        .await?;
    Ok(Json(FolderResponse {
        folder: folder.into(),
    }))
}

async fn list(
    app: AppState,
    ctx: crate::services::Ctx,
    input: FolderQuery,
) -> Result<Json<FoldersResponse>> {
    let project = input
        .project_id
        .as_deref()
        .or(input.workspace_id.as_deref())
        .unwrap_or("");
    let path = input.path.as_deref();
    let folders = if input.recursive() {
        let base = normalize_path(path).unwrap_or_else(|| "/".to_string());
        app.list_folder_subtree(&ctx, project, &input.environment, path)
            .await?
            .into_iter()
            .map(|f| FolderListItem {
                relative_path: Some(relative_to(&base, &f.path)),
                folder: f.into(),
            })
            .collect()
    } else {
        app.list_folders(&ctx, project, &input.environment, path)
            .await?
            .into_iter()
            .map(|f| FolderListItem {
                folder: f.into(),
                relative_path: None,
            })
            .collect()
    };
    Ok(Json(FoldersResponse { folders }))
}

/// `/b/c` for `/a/b/c` under `/a`.
fn relative_to(base: &str, path: &str) -> String {
    if base == "/" {
        return path.to_string();
    }
    path.strip_prefix(base)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path)
        .to_string()
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

/// Lists the folders directly under `path` (`recursive=true`: every folder below it).
#[utoipa::path(get, path = "/api/v1/folders", tag = "Folders", params(FolderQuery),
    responses((status = 200, body = FoldersResponse)), security(("bearer" = [])))]
async fn list_folders_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(input): Query<FolderQuery>,
) -> Result<Json<FoldersResponse>> {
    list(app, ctx, input).await
}

/// Lists the folders directly under `path` (`recursive=true`: every folder below it).
#[utoipa::path(get, path = "/api/v2/folders", tag = "Folders", params(FolderQuery),
    responses((status = 200, body = FoldersResponse)), security(("bearer" = [])))]
async fn list_folders_v2(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(input): Query<FolderQuery>,
) -> Result<Json<FoldersResponse>> {
    list(app, ctx, input).await
}

/// Deletes a folder (by id or name) under `path`, with everything below it.
#[utoipa::path(delete, path = "/api/v1/folders/{folderIdOrName}", tag = "Folders",
    params(("folderIdOrName" = String, Path)), request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn delete_folder(
    state: State<AppState>,
    auth: Auth,
    id_or_name: Path<String>,
    body: Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    delete(state, auth, id_or_name, body).await
}

/// Both delete routes (v1 here, v2 in `folders_v2`).
pub(super) async fn delete(
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
