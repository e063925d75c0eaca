//! Folders v2 by id: `GET`/`PATCH`/`DELETE /api/v2/folders/{folderId}` and
//! `PATCH /api/v2/folders/batch` (docs/COMPATIBILITY.md, "Folders v2, environments, project
//! creation").

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::folders::{FolderIn, FolderOut, FolderResponse, MAX_FOLDER_DESCRIPTION};
use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Validate};
use crate::services::folders::{FolderEdit, FolderView};
use crate::services::AppState;

/// At most this many folders in one batch.
const MAX_BATCH: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_folder, update_folder, delete_folder))
        .routes(routes!(update_folders))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderEnvironmentOut {
    env_id: String,
    env_name: String,
    env_slug: String,
}

/// A folder with its project and environment, as the get-by-id answer carries it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FolderDetailOut {
    #[serde(flatten)]
    folder: FolderOut,
    project_id: String,
    environment: FolderEnvironmentOut,
}

impl From<FolderView> for FolderDetailOut {
    fn from(v: FolderView) -> Self {
        Self {
            project_id: v.folder.project_id.clone(),
            folder: v.folder.into(),
            environment: FolderEnvironmentOut {
                env_id: v.environment.id,
                env_name: v.environment.name,
                env_slug: v.environment.slug,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FolderDetailResponse {
    folder: FolderDetailOut,
}

#[derive(Serialize, ToSchema)]
pub struct FoldersDetailResponse {
    folders: Vec<FolderDetailOut>,
}

fn description_issue(description: Option<&str>, path: &[&str]) -> Option<Issue> {
    description
        .is_some_and(|d| d.chars().count() > MAX_FOLDER_DESCRIPTION)
        .then(|| {
            Issue::new(
                "too_big",
                path,
                format!("Description must be at most {MAX_FOLDER_DESCRIPTION} characters"),
            )
        })
}

/// One folder of a batch.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchFolderIn {
    id: String,
    environment: String,
    name: String,
    path: Option<String>,
    description: Option<String>,
}

/// The batch: the project (by slug, as upstream, or by id) and the folders to rename.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchIn {
    project_slug: Option<String>,
    project_id: Option<String>,
    folders: Vec<BatchFolderIn>,
}

impl Validate for BatchIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.folders.is_empty() || self.folders.len() > MAX_BATCH {
            issues.push(Issue::new(
                "too_small",
                &["folders"],
                format!("Between 1 and {MAX_BATCH} folders are required"),
            ));
        }
        for (i, f) in self.folders.iter().enumerate() {
            let index = i.to_string();
            if f.id.trim().is_empty() || f.environment.trim().is_empty() {
                issues.push(Issue::new(
                    "too_small",
                    &["folders", &index],
                    "Folder id and environment are required",
                ));
            }
            issues.extend(description_issue(
                f.description.as_deref(),
                &["folders", &index, "description"],
            ));
        }
        issues
    }
}

/// Gets a folder by id, with its path, project and environment.
#[utoipa::path(get, path = "/api/v2/folders/{folderId}", tag = "Folders",
    params(("folderId" = String, Path)),
    responses((status = 200, body = FolderDetailResponse)), security(("bearer" = [])))]
async fn get_folder(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<FolderDetailResponse>> {
    Ok(Json(FolderDetailResponse {
        folder: app.get_folder_by_id(&ctx, &id).await?.into(),
    }))
}

/// Renames a folder (in the folder at `path`) and sets its description.
#[utoipa::path(patch, path = "/api/v2/folders/{folderId}", tag = "Folders",
    params(("folderId" = String, Path)), request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn update_folder(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    let project = input.project().to_string();
    let edit = FolderEdit {
        id,
        environment: input.environment,
        path: input.path,
        name: input.name,
        description: input.description,
    };
    let view = app.update_folder(&ctx, &project, edit).await?;
    Ok(Json(FolderResponse::from(view.folder)))
}

/// Deletes a folder (by id or name) under `path`, with everything below it.
#[utoipa::path(delete, path = "/api/v2/folders/{folderId}", tag = "Folders",
    params(("folderId" = String, Path, description = "The folder's id or its name in `path`")),
    request_body = FolderIn,
    responses((status = 200, body = FolderResponse)), security(("bearer" = [])))]
async fn delete_folder(
    state: State<AppState>,
    auth: Auth,
    id_or_name: Path<String>,
    body: Body<FolderIn>,
) -> Result<Json<FolderResponse>> {
    super::folders::delete(state, auth, id_or_name, body).await
}

/// Renames several folders of one project at once (all or none).
#[utoipa::path(patch, path = "/api/v2/folders/batch", tag = "Folders", request_body = BatchIn,
    responses((status = 200, body = FoldersDetailResponse)), security(("bearer" = [])))]
async fn update_folders(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<BatchIn>,
) -> Result<Json<FoldersDetailResponse>> {
    let project = app
        .project_ref(
            &ctx,
            input.project_id.as_deref(),
            input.project_slug.as_deref(),
        )
        .await?;
    let edits = input
        .folders
        .into_iter()
        .map(|f| FolderEdit {
            id: f.id,
            environment: f.environment,
            path: f.path,
            name: f.name,
            description: f.description,
        })
        .collect();
    let views = app.update_folders(&ctx, &project, edits).await?;
    Ok(Json(FoldersDetailResponse {
        folders: views.into_iter().map(Into::into).collect(),
    }))
}
