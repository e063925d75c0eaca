//! Secret tags: `/api/v1/workspace/{projectId}/tags` (create, list, get by id or slug, update,
//! delete), answered as upstream's `workspaceTag`, and the newer `/api/v1/projects/{projectId}/tags`
//! spelling of the same, answered as `tag` / `tags`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::extract::{Auth, Body, Validate};
use crate::services::{AppState, Ctx};
use crate::store::TagRow;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tag, list_tags))
        .routes(routes!(get_tag, update_tag, delete_tag))
        .routes(routes!(get_tag_by_slug))
        .routes(routes!(create_project_tag, list_project_tags))
        .routes(routes!(
            get_project_tag,
            update_project_tag,
            delete_project_tag
        ))
        .routes(routes!(get_project_tag_by_slug))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTagOut {
    id: String,
    slug: String,
    name: String,
    color: Option<String>,
    project_id: String,
    created_at: String,
    updated_at: String,
}

impl From<TagRow> for WorkspaceTagOut {
    fn from(t: TagRow) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            color: t.color,
            project_id: t.project_id,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagResponse {
    workspace_tag: WorkspaceTagOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagsResponse {
    workspace_tags: Vec<WorkspaceTagOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectTagResponse {
    tag: WorkspaceTagOut,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectTagsResponse {
    tags: Vec<WorkspaceTagOut>,
}

fn project_one(tag: TagRow) -> Json<ProjectTagResponse> {
    Json(ProjectTagResponse { tag: tag.into() })
}

fn one(tag: TagRow) -> Json<TagResponse> {
    Json(TagResponse {
        workspace_tag: tag.into(),
    })
}

/// A new tag: its slug (lowercase letters, numbers, hyphens; at most 64) and color.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTagIn {
    slug: String,
    color: String,
}

impl Validate for CreateTagIn {
    const BODY_REQUIRED: bool = true;
}

/// A tag's new slug or color.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTagIn {
    slug: Option<String>,
    color: Option<String>,
}

impl Validate for UpdateTagIn {}

// One body per operation, shared by both spellings; each spelling only wraps the answer.

async fn create(app: &AppState, ctx: &Ctx, project_id: &str, input: CreateTagIn) -> Result<TagRow> {
    app.create_tag(ctx, project_id, &input.slug, Some(&input.color))
        .await
}

async fn update(
    app: &AppState,
    ctx: &Ctx,
    (project_id, tag_id): (String, String),
    input: UpdateTagIn,
) -> Result<TagRow> {
    app.update_tag(
        ctx,
        &project_id,
        &tag_id,
        input.slug.as_deref(),
        input.color.as_deref(),
    )
    .await
}

/// Creates a tag in a project.
#[utoipa::path(post, path = "/api/v1/workspace/{projectId}/tags", tag = "Tags",
    params(("projectId" = String, Path)), request_body = CreateTagIn,
    responses((status = 200, body = TagResponse)), security(("bearer" = [])))]
async fn create_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(project_id): Path<String>,
    Body(input): Body<CreateTagIn>,
) -> Result<Json<TagResponse>> {
    Ok(one(create(&app, &ctx, &project_id, input).await?))
}

/// Lists a project's tags.
#[utoipa::path(get, path = "/api/v1/workspace/{projectId}/tags", tag = "Tags",
    params(("projectId" = String, Path)),
    responses((status = 200, body = TagsResponse)), security(("bearer" = [])))]
async fn list_tags(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(project_id): Path<String>,
) -> Result<Json<TagsResponse>> {
    let tags = app.list_tags(&ctx, &project_id).await?;
    Ok(Json(TagsResponse {
        workspace_tags: tags.into_iter().map(Into::into).collect(),
    }))
}

/// Gets a tag by id.
#[utoipa::path(get, path = "/api/v1/workspace/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)),
    responses((status = 200, body = TagResponse)), security(("bearer" = [])))]
async fn get_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, tag_id)): Path<(String, String)>,
) -> Result<Json<TagResponse>> {
    Ok(one(app.get_tag(&ctx, &project_id, &tag_id, false).await?))
}

/// Gets a tag by slug.
#[utoipa::path(get, path = "/api/v1/workspace/{projectId}/tags/slug/{tagSlug}", tag = "Tags",
    params(("projectId" = String, Path), ("tagSlug" = String, Path)),
    responses((status = 200, body = TagResponse)), security(("bearer" = [])))]
async fn get_tag_by_slug(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, slug)): Path<(String, String)>,
) -> Result<Json<TagResponse>> {
    Ok(one(app.get_tag(&ctx, &project_id, &slug, true).await?))
}

/// Changes a tag's slug or color.
#[utoipa::path(patch, path = "/api/v1/workspace/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)), request_body = UpdateTagIn,
    responses((status = 200, body = TagResponse)), security(("bearer" = [])))]
async fn update_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(ids): Path<(String, String)>,
    Body(input): Body<UpdateTagIn>,
) -> Result<Json<TagResponse>> {
    Ok(one(update(&app, &ctx, ids, input).await?))
}

/// Deletes a tag; secrets that carried it no longer show it.
#[utoipa::path(delete, path = "/api/v1/workspace/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)),
    responses((status = 200, body = TagResponse)), security(("bearer" = [])))]
async fn delete_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, tag_id)): Path<(String, String)>,
) -> Result<Json<TagResponse>> {
    Ok(one(app.delete_tag(&ctx, &project_id, &tag_id).await?))
}

/// Creates a tag in a project.
#[utoipa::path(post, path = "/api/v1/projects/{projectId}/tags", tag = "Tags",
    params(("projectId" = String, Path)), request_body = CreateTagIn,
    responses((status = 200, body = ProjectTagResponse)), security(("bearer" = [])))]
async fn create_project_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(project_id): Path<String>,
    Body(input): Body<CreateTagIn>,
) -> Result<Json<ProjectTagResponse>> {
    Ok(project_one(create(&app, &ctx, &project_id, input).await?))
}

/// Lists a project's tags.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/tags", tag = "Tags",
    params(("projectId" = String, Path)),
    responses((status = 200, body = ProjectTagsResponse)), security(("bearer" = [])))]
async fn list_project_tags(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(project_id): Path<String>,
) -> Result<Json<ProjectTagsResponse>> {
    let tags = app.list_tags(&ctx, &project_id).await?;
    Ok(Json(ProjectTagsResponse {
        tags: tags.into_iter().map(Into::into).collect(),
    }))
}

/// Gets a tag by id.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)),
    responses((status = 200, body = ProjectTagResponse)), security(("bearer" = [])))]
async fn get_project_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, tag_id)): Path<(String, String)>,
) -> Result<Json<ProjectTagResponse>> {
    Ok(project_one(
        app.get_tag(&ctx, &project_id, &tag_id, false).await?,
    ))
}

/// Gets a tag by slug.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/tags/slug/{tagSlug}", tag = "Tags",
    params(("projectId" = String, Path), ("tagSlug" = String, Path)),
    responses((status = 200, body = ProjectTagResponse)), security(("bearer" = [])))]
async fn get_project_tag_by_slug(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, slug)): Path<(String, String)>,
) -> Result<Json<ProjectTagResponse>> {
    Ok(project_one(
        app.get_tag(&ctx, &project_id, &slug, true).await?,
    ))
}

/// Changes a tag's slug or color.
#[utoipa::path(patch, path = "/api/v1/projects/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)), request_body = UpdateTagIn,
    responses((status = 200, body = ProjectTagResponse)), security(("bearer" = [])))]
async fn update_project_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(ids): Path<(String, String)>,
    Body(input): Body<UpdateTagIn>,
) -> Result<Json<ProjectTagResponse>> {
    Ok(project_one(update(&app, &ctx, ids, input).await?))
}

/// Deletes a tag; secrets that carried it no longer show it.
#[utoipa::path(delete, path = "/api/v1/projects/{projectId}/tags/{tagId}", tag = "Tags",
    params(("projectId" = String, Path), ("tagId" = String, Path)),
    responses((status = 200, body = ProjectTagResponse)), security(("bearer" = [])))]
async fn delete_project_tag(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((project_id, tag_id)): Path<(String, String)>,
) -> Result<Json<ProjectTagResponse>> {
    Ok(project_one(
        app.delete_tag(&ctx, &project_id, &tag_id).await?,
    ))
}
