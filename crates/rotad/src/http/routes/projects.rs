//! Projects (`/api/v2/workspace`, `/api/v1/projects`) with their environments.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Validate};
use crate::services::projects::ProjectView;
use crate::services::AppState;
use crate::store::Environment;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_workspace))
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, delete_project))
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentOut {
    id: String,
    name: String,
    slug: String,
    position: i64,
}

impl From<Environment> for EnvironmentOut {
    fn from(e: Environment) -> Self {
        Self {
            id: e.id,
            name: e.name,
            slug: e.slug,
            position: e.position,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOut {
    id: String,
    #[serde(rename = "_id")]
    legacy_id: String,
    name: String,
    slug: String,
    description: Option<String>,
    org_id: String,
    #[serde(rename = "type")]
    kind: String,
    environments: Vec<EnvironmentOut>,
    created_at: String,
    updated_at: String,
}

impl From<ProjectView> for ProjectOut {
    fn from(v: ProjectView) -> Self {
        Self {
            legacy_id: v.project.id.clone(),
            id: v.project.id,
            name: v.project.name,
            slug: v.project.slug,
            description: v.project.description,
            org_id: v.project.org_id,
            kind: "secret-manager".to_string(),
            environments: v.environments.into_iter().map(Into::into).collect(),
            created_at: rfc3339(v.project.created_at),
            updated_at: rfc3339(v.project.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectResponse {
    project: ProjectOut,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectsResponse {
    projects: Vec<ProjectOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateProjectIn {
    project_name: String,
    slug: Option<String>,
    project_description: Option<String>,
    /// Creates `dev`, `staging` and `prod` (default `true`).
    should_create_default_envs: Option<bool>,
}

/// Caps of the project's names, as `services::projects::create_project` checks them, and of
/// its description (upstream's: a slug of 5 to 36 characters, a description of 1,024).
const MAX_PROJECT_NAME: usize = 64;
const MIN_PROJECT_SLUG: usize = 5;
const MAX_PROJECT_SLUG: usize = crate::services::projects::MAX_PROJECT_SLUG;
const MAX_PROJECT_DESCRIPTION: usize = 1024;

impl Validate for CreateProjectIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        let name = self.project_name.trim();
        if name.is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["projectName"],
                "Project name is required",
            ));
        } else if name.chars().count() > MAX_PROJECT_NAME {
            issues.push(Issue::new(
                "too_big",
                &["projectName"],
                format!("Project name must be at most {MAX_PROJECT_NAME} characters"),
            ));
        }
        if let Some(slug) = self
            .slug
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let length = slug.chars().count();
            if !(MIN_PROJECT_SLUG..=MAX_PROJECT_SLUG).contains(&length) {
                issues.push(Issue::new(
                    if length < MIN_PROJECT_SLUG {
                        "too_small"
                    } else {
                        "too_big"
                    },
                    &["slug"],
                    format!("slug must be {MIN_PROJECT_SLUG} to {MAX_PROJECT_SLUG} characters"),
                ));
            }
        }
        if self
            .project_description
            .as_deref()
            .is_some_and(|d| d.trim().chars().count() > MAX_PROJECT_DESCRIPTION)
        {
            issues.push(Issue::new(
                "too_big",
                &["projectDescription"],
                format!("Project description must be at most {MAX_PROJECT_DESCRIPTION} characters"),
            ));
        }
        issues
    }
}

/// Creates a project with the environments `dev`, `staging` and `prod` (unless
/// `shouldCreateDefaultEnvs` is `false`).
#[utoipa::path(post, path = "/api/v2/workspace", tag = "Projects", request_body = CreateProjectIn,
    responses((status = 200, body = ProjectResponse)), security(("bearer" = [])))]
async fn create_workspace(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateProjectIn>,
) -> Result<Json<ProjectResponse>> {
    let view = app
        .create_project(
            &ctx,
            &input.project_name,
            input.slug.as_deref(),
            input.project_description.as_deref(),
            input.should_create_default_envs.unwrap_or(true),
        )
        .await?;
    Ok(Json(ProjectResponse {
        project: view.into(),
    }))
}

/// Creates a project (the v1 route; same body and answer as `/api/v2/workspace`).
#[utoipa::path(post, path = "/api/v1/projects", tag = "Projects", request_body = CreateProjectIn,
    responses((status = 200, body = ProjectResponse)), security(("bearer" = [])))]
async fn create_project(
    state: State<AppState>,
    auth: Auth,
    body: Body<CreateProjectIn>,
) -> Result<Json<ProjectResponse>> {
    create_workspace(state, auth, body).await
}

/// Lists the projects the caller can read.
#[utoipa::path(get, path = "/api/v1/projects", tag = "Projects",
    responses((status = 200, body = ProjectsResponse)), security(("bearer" = [])))]
async fn list_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
) -> Result<Json<ProjectsResponse>> {
    let projects = app.list_projects(&ctx).await?;
    Ok(Json(ProjectsResponse {
        projects: projects.into_iter().map(Into::into).collect(),
    }))
}

/// Gets a project.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}", tag = "Projects",
    params(("projectId" = String, Path)), responses((status = 200, body = ProjectResponse)), security(("bearer" = [])))]
async fn get_project(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<ProjectResponse>> {
    Ok(Json(ProjectResponse {
        project: app.get_project(&ctx, &id).await?.into(),
    }))
}

/// Deletes a project with everything in it.
#[utoipa::path(delete, path = "/api/v1/projects/{projectId}", tag = "Projects",
    params(("projectId" = String, Path)), responses((status = 200, body = ProjectResponse)), security(("bearer" = [])))]
async fn delete_project(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<ProjectResponse>> {
    Ok(Json(ProjectResponse {
        project: app.delete_project(&ctx, &id).await?.into(),
    }))
}
