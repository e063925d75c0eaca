//! A project's environments, under `/api/v1/workspace/{projectId}/environments` and (same
//! handlers) `/api/v1/projects/{projectId}/environments` (docs/COMPATIBILITY.md).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Validate};
use crate::services::environments::{EnvironmentEdit, MAX_ENVIRONMENT_NAME};
use crate::services::AppState;
use crate::store::Environment;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_v1, create_v1))
        .routes(routes!(get_v1, update_v1, delete_v1))
        .routes(routes!(list_projects, create_projects))
        .routes(routes!(get_projects, update_projects, delete_projects))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentOut {
    id: String,
    name: String,
    slug: String,
    position: i64,
    project_id: String,
    created_at: String,
    updated_at: String,
}

impl From<Environment> for EnvironmentOut {
    fn from(e: Environment) -> Self {
        Self {
            id: e.id,
            name: e.name,
            slug: e.slug,
            position: e.position,
            project_id: e.project_id,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A write's answer: what was done, to which project, and the environment.
#[derive(Serialize, ToSchema)]
pub struct EnvironmentChangeResponse {
    message: String,
    workspace: String,
    environment: EnvironmentOut,
}

impl EnvironmentChangeResponse {
    fn new(verb: &str, env: Environment) -> Json<Self> {
        Json(Self {
            message: format!("Successfully {verb} environment"),
            workspace: env.project_id.clone(),
            environment: env.into(),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentResponse {
    environment: EnvironmentOut,
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentsResponse {
    environments: Vec<EnvironmentOut>,
}

/// The Node SDK repeats the project id in the body; it must match the path's.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEnvironmentIn {
    name: String,
    slug: String,
    position: Option<i64>,
    project_id: Option<String>,
    workspace_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEnvironmentIn {
    name: Option<String>,
    slug: Option<String>,
    position: Option<i64>,
    project_id: Option<String>,
    workspace_id: Option<String>,
}

fn length_issues(name: Option<&str>, slug: Option<&str>) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (field, value) in [("name", name), ("slug", slug)] {
        if value.is_some_and(|v| v.trim().is_empty() || v.chars().count() > MAX_ENVIRONMENT_NAME) {
            issues.push(Issue::new(
                "too_big",
                &[field],
                format!("{field} must be 1 to {MAX_ENVIRONMENT_NAME} characters"),
            ));
        }
    }
    issues
}

impl Validate for CreateEnvironmentIn {
    fn validate(&self) -> Vec<Issue> {
        length_issues(Some(&self.name), Some(&self.slug))
    }
}

impl Validate for UpdateEnvironmentIn {
    fn validate(&self) -> Vec<Issue> {
        length_issues(self.name.as_deref(), self.slug.as_deref())
    }
}

/// A project id repeated in the body must be the path's (a mismatch is a 400, not a write to
/// either project).
fn same_project(path: &str, body: [Option<&str>; 2]) -> Result<()> {
    match body.into_iter().flatten().find(|id| *id != path) {
        Some(other) => Err(crate::error::Error::bad_request(format!(
            "The project id in the body ('{other}') is not the one in the path ('{path}')"
        ))),
        None => Ok(()),
    }
}

async fn list(
    app: AppState,
    ctx: crate::services::Ctx,
    project: String,
) -> Result<Json<EnvironmentsResponse>> {
    let environments = app.list_environments(&ctx, &project).await?;
    Ok(Json(EnvironmentsResponse {
        environments: environments.into_iter().map(Into::into).collect(),
    }))
}

async fn create(
    app: AppState,
    ctx: crate::services::Ctx,
    project: String,
    input: CreateEnvironmentIn,
) -> Result<Json<EnvironmentChangeResponse>> {
    same_project(
        &project,
        [input.project_id.as_deref(), input.workspace_id.as_deref()],
    )?;
    let env = app
        .create_environment(&ctx, &project, &input.name, &input.slug, input.position)
        .await?;
    Ok(EnvironmentChangeResponse::new("created", env))
}

async fn get(
    app: AppState,
    ctx: crate::services::Ctx,
    (project, env): (String, String),
) -> Result<Json<EnvironmentResponse>> {
    Ok(Json(EnvironmentResponse {
        environment: app.get_environment(&ctx, &project, &env).await?.into(),
    }))
}

async fn update(
    app: AppState,
    ctx: crate::services::Ctx,
    (project, env): (String, String),
    input: UpdateEnvironmentIn,
) -> Result<Json<EnvironmentChangeResponse>> {
    same_project(
        &project,
        [input.project_id.as_deref(), input.workspace_id.as_deref()],
    )?;
    let edit = EnvironmentEdit {
        name: input.name,
        slug: input.slug,
        position: input.position,
    };
    let env = app.update_environment(&ctx, &project, &env, edit).await?;
    Ok(EnvironmentChangeResponse::new("updated", env))
}

async fn delete(
    app: AppState,
    ctx: crate::services::Ctx,
    (project, env): (String, String),
) -> Result<Json<EnvironmentChangeResponse>> {
    let env = app.delete_environment(&ctx, &project, &env).await?;
    Ok(EnvironmentChangeResponse::new("deleted", env))
}

/// Lists a project's environments, in order of position.
#[utoipa::path(get, path = "/api/v1/workspace/{projectId}/environments", tag = "Environments",
    params(("projectId" = String, Path)),
    responses((status = 200, body = EnvironmentsResponse)), security(("bearer" = [])))]
async fn list_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<String>,
) -> Result<Json<EnvironmentsResponse>> {
    list(app, ctx, p).await
}

/// Lists a project's environments, in order of position.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/environments", tag = "Environments",
    params(("projectId" = String, Path)),
    responses((status = 200, body = EnvironmentsResponse)), security(("bearer" = [])))]
async fn list_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<String>,
) -> Result<Json<EnvironmentsResponse>> {
    list(app, ctx, p).await
}

/// Creates an environment (project admins).
#[utoipa::path(post, path = "/api/v1/workspace/{projectId}/environments", tag = "Environments",
    params(("projectId" = String, Path)), request_body = CreateEnvironmentIn,
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn create_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<String>,
    Body(input): Body<CreateEnvironmentIn>,
) -> Result<Json<EnvironmentChangeResponse>> {
    create(app, ctx, p, input).await
}

/// Creates an environment (project admins).
#[utoipa::path(post, path = "/api/v1/projects/{projectId}/environments", tag = "Environments",
    params(("projectId" = String, Path)), request_body = CreateEnvironmentIn,
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn create_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<String>,
    Body(input): Body<CreateEnvironmentIn>,
) -> Result<Json<EnvironmentChangeResponse>> {
    create(app, ctx, p, input).await
}

/// Gets an environment by id.
#[utoipa::path(get, path = "/api/v1/workspace/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)),
    responses((status = 200, body = EnvironmentResponse)), security(("bearer" = [])))]
async fn get_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
) -> Result<Json<EnvironmentResponse>> {
    get(app, ctx, p).await
}

/// Gets an environment by id.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)),
    responses((status = 200, body = EnvironmentResponse)), security(("bearer" = [])))]
async fn get_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
) -> Result<Json<EnvironmentResponse>> {
    get(app, ctx, p).await
}

/// Updates an environment's name, slug or position (project admins).
#[utoipa::path(patch, path = "/api/v1/workspace/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)), request_body = UpdateEnvironmentIn,
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn update_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
    Body(input): Body<UpdateEnvironmentIn>,
) -> Result<Json<EnvironmentChangeResponse>> {
    update(app, ctx, p, input).await
}

/// Updates an environment's name, slug or position (project admins).
#[utoipa::path(patch, path = "/api/v1/projects/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)), request_body = UpdateEnvironmentIn,
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn update_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
    Body(input): Body<UpdateEnvironmentIn>,
) -> Result<Json<EnvironmentChangeResponse>> {
    update(app, ctx, p, input).await
}

/// Deletes an empty environment (one holding secrets, folders or rotations is refused).
#[utoipa::path(delete, path = "/api/v1/workspace/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)),
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn delete_v1(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
) -> Result<Json<EnvironmentChangeResponse>> {
    delete(app, ctx, p).await
}

/// Deletes an empty environment (one holding secrets, folders or rotations is refused).
#[utoipa::path(delete, path = "/api/v1/projects/{projectId}/environments/{envId}", tag = "Environments",
    params(("projectId" = String, Path), ("envId" = String, Path)),
    responses((status = 200, body = EnvironmentChangeResponse)), security(("bearer" = [])))]
async fn delete_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(p): Path<(String, String)>,
) -> Result<Json<EnvironmentChangeResponse>> {
    delete(app, ctx, p).await
}
