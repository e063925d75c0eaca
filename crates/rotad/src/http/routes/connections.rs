//! App connections: `/api/v1/app-connections/dbt` (list, get, get by name, create, update,
//! delete, the account's dbt projects, the connections a caller may use) and
//! `GET /api/v1/app-connections`. Answers never carry the API token.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{uuid_param, Auth, Body, Query, Validate};
use crate::services::connections::{
    credential_issues, description_issues, method_issues, name_issues, permission_set_issues,
    ConnectionChange, DbtCredentials, NewConnection, APP_DBT,
};
use crate::services::AppState;
use crate::time::rfc3339;

use super::connection_answers::{many, one, AppConnectionResponse, AppConnectionsResponse};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_connections))
        .routes(routes!(list_connections, create_connection))
        .routes(routes!(available_connections))
        .routes(routes!(get_connection_by_name))
        .routes(routes!(
            get_connection,
            update_connection,
            delete_connection
        ))
        .routes(routes!(list_dbt_projects))
        .merge(super::connection_options::router())
        .merge(super::sql_connections::router())
}

/// A connection a caller may use, as `/available` lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnectionOut {
    pub(crate) app: String,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) project_id: Option<String>,
    pub(crate) org_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnectionsResponse {
    pub(crate) app_connections: Vec<AvailableConnectionOut>,
}

/// A project of the connection's dbt account.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DbtProjectOut {
    id: i64,
    name: String,
    description: String,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DbtProjectsResponse {
    projects: Vec<DbtProjectOut>,
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    pub(crate) project_id: Option<String>,
}

impl Validate for ProjectQuery {}

/// dbt credentials as requests send them. Never logged: no `Debug`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsIn {
    instance_url: String,
    account_id: String,
    api_token: String,
}

impl From<CredentialsIn> for DbtCredentials {
    fn from(c: CredentialsIn) -> Self {
        DbtCredentials {
            instance_url: c.instance_url,
            account_id: c.account_id,
            api_token: c.api_token,
        }
    }
}

/// A dbt instance URL.
const MAX_INSTANCE_URL: usize = 2048;

impl CredentialsIn {
    fn issues(&self) -> Vec<Issue> {
        if self.instance_url.trim().chars().count() > MAX_INSTANCE_URL {
            return vec![Issue::new(
                "too_big",
                &["credentials", "instanceUrl"],
                format!("Instance URL must be at most {MAX_INSTANCE_URL} characters"),
            )];
        }
        credential_issues(&DbtCredentials {
            instance_url: self.instance_url.clone(),
            account_id: self.account_id.clone(),
            api_token: self.api_token.clone(),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateConnectionIn {
    name: String,
    /// Always `api-token`.
    method: String,
    credentials: CredentialsIn,
    description: Option<String>,
    /// Makes the connection a project's instead of the organization's.
    project_id: Option<String>,
    /// The dbt permission sets the connection may hand out. Default: every set but `owner`,
    /// `account_admin`, `security_admin` and `billing_admin`, which only an org admin may add.
    allowed_permission_sets: Option<Vec<String>>,
    /// Only `false`: dbt connections have no platform-managed credentials.
    is_platform_managed_credentials: Option<bool>,
    /// Only `null`: dbt connections do not go through gateways.
    gateway_id: Option<String>,
}

/// Upstream's settings a dbt connection does not support, refused with a 422 naming them.
fn unsupported_setting_issues(platform_managed: Option<bool>, gateway: Option<&str>) -> Vec<Issue> {
    let mut issues = Vec::new();
    if platform_managed == Some(true) {
        issues.push(Issue::new(
            "custom",
            &["isPlatformManagedCredentials"],
            "Platform managed credentials are not supported for dbt connections",
        ));
    }
    if gateway.is_some() {
        issues.push(Issue::new(
            "custom",
            &["gatewayId"],
            "Gateways are not supported for dbt connections",
        ));
    }
    issues
}

impl Validate for CreateConnectionIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = name_issues(&self.name);
        issues.extend(unsupported_setting_issues(
            self.is_platform_managed_credentials,
            self.gateway_id.as_deref(),
        ));
        issues.extend(description_issues(self.description.as_deref()));
        issues.extend(method_issues(&self.method));
        issues.extend(self.credentials.issues());
        if let Some(sets) = &self.allowed_permission_sets {
            issues.extend(permission_set_issues(sets));
        }
        issues
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConnectionIn {
    name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// Replaces the credentials whole; they are checked against dbt first.
    credentials: Option<CredentialsIn>,
    /// Replaces the permission sets it hands out; `null` goes back to the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_permission_sets: Option<Option<Vec<String>>>,
    /// Only `false`: dbt connections have no platform-managed credentials.
    is_platform_managed_credentials: Option<bool>,
    /// Only `null`: dbt connections do not go through gateways.
    gateway_id: Option<String>,
}

/// Tells a `null` field (`Some(None)`) from an absent one (`None`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl Validate for UpdateConnectionIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = unsupported_setting_issues(
            self.is_platform_managed_credentials,
            self.gateway_id.as_deref(),
        );
        if let Some(name) = &self.name {
            issues.extend(name_issues(name));
        }
        if let Some(description) = &self.description {
            issues.extend(description_issues(description.as_deref()));
        }
        if let Some(credentials) = &self.credentials {
            issues.extend(credentials.issues());
        }
        if let Some(Some(sets)) = &self.allowed_permission_sets {
            issues.extend(permission_set_issues(sets));
        }
        issues
    }
}

/// Lists the app connections of every app (only `dbt` exists) of the organization, or of a
/// project with `projectId`.
#[utoipa::path(get, path = "/api/v1/app-connections", tag = "App Connections",
    params(ProjectQuery), responses((status = 200, body = AppConnectionsResponse)),
    security(("bearer" = [])))]
async fn list_all_connections(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AppConnectionsResponse>> {
    let connections = app.list_connections(&ctx, q.project_id.as_deref()).await?;
    many(&app, connections).await
}

/// Lists the dbt connections of the organization, or of a project with `projectId`.
#[utoipa::path(get, path = "/api/v1/app-connections/dbt", tag = "App Connections",
    params(ProjectQuery), responses((status = 200, body = AppConnectionsResponse)),
    security(("bearer" = [])))]
async fn list_connections(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AppConnectionsResponse>> {
    let mut connections = app.list_connections(&ctx, q.project_id.as_deref()).await?;
    connections.retain(|c| c.app == APP_DBT);
    many(&app, connections).await
}

/// Creates a dbt connection after checking its credentials against dbt Cloud.
#[utoipa::path(post, path = "/api/v1/app-connections/dbt", tag = "App Connections",
    request_body = CreateConnectionIn, responses((status = 200, body = AppConnectionResponse)),
    security(("bearer" = [])))]
async fn create_connection(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<CreateConnectionIn>,
) -> Result<Json<AppConnectionResponse>> {
    let connection = app
        .create_connection(
            &ctx,
            NewConnection {
                name: input.name,
                description: input.description,
                project_id: input.project_id,
                method: input.method,
                credentials: input.credentials.into(),
                allowed_permission_sets: input.allowed_permission_sets,
            },
        )
        .await?;
    one(&app, connection).await
}

/// Lists the dbt connections the caller may use (`projectId` adds that project's).
#[utoipa::path(get, path = "/api/v1/app-connections/dbt/available", tag = "App Connections",
    params(ProjectQuery), responses((status = 200, body = AvailableConnectionsResponse)),
    security(("bearer" = [])))]
async fn available_connections(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AvailableConnectionsResponse>> {
    let connections = app
        .available_connections(&ctx, q.project_id.as_deref())
        .await?;
    Ok(Json(AvailableConnectionsResponse {
        app_connections: connections
            .into_iter()
            .filter(|c| c.app == APP_DBT)
            .map(|c| AvailableConnectionOut {
                app: c.app,
                name: c.name,
                id: c.id,
                project_id: c.project_id,
                org_id: c.org_id,
            })
            .collect(),
    }))
}

/// Gets a dbt connection by name.
#[utoipa::path(get, path = "/api/v1/app-connections/dbt/connection-name/{connectionName}",
    tag = "App Connections", params(("connectionName" = String, Path), ProjectQuery),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn get_connection_by_name(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AppConnectionResponse>> {
    let connection = app
        .get_connection_by_name(&ctx, &name, q.project_id.as_deref())
        .await?;
    one(&app, connection).await
}

/// Gets a dbt connection.
#[utoipa::path(get, path = "/api/v1/app-connections/dbt/{connectionId}", tag = "App Connections",
    params(("connectionId" = String, Path)),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn get_connection(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<AppConnectionResponse>> {
    let id = uuid_param("connectionId", &id)?;
    let connection = app.get_connection(&ctx, &id).await?;
    one(&app, connection).await
}

/// Renames a dbt connection, changes its description, or replaces its credentials (checked
/// against dbt Cloud first).
#[utoipa::path(patch, path = "/api/v1/app-connections/dbt/{connectionId}",
    tag = "App Connections", params(("connectionId" = String, Path)),
    request_body = UpdateConnectionIn, responses((status = 200, body = AppConnectionResponse)),
    security(("bearer" = [])))]
async fn update_connection(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
    Body(input): Body<UpdateConnectionIn>,
) -> Result<Json<AppConnectionResponse>> {
    let id = uuid_param("connectionId", &id)?;
    let change = ConnectionChange {
        name: input.name,
        description: input.description,
        credentials: input.credentials.map(Into::into),
        allowed_permission_sets: input.allowed_permission_sets,
    };
    let connection = app.update_connection(&ctx, &id, change).await?;
    one(&app, connection).await
}

/// Deletes a dbt connection that no rotation uses.
#[utoipa::path(delete, path = "/api/v1/app-connections/dbt/{connectionId}",
    tag = "App Connections", params(("connectionId" = String, Path)),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn delete_connection(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<AppConnectionResponse>> {
    let id = uuid_param("connectionId", &id)?;
    let connection = app.delete_connection(&ctx, &id).await?;
    one(&app, connection).await
}

/// Lists the projects of the connection's dbt Cloud account.
#[utoipa::path(get, path = "/api/v1/app-connections/dbt/{connectionId}/projects",
    tag = "App Connections", params(("connectionId" = String, Path)),
    responses((status = 200, body = DbtProjectsResponse)), security(("bearer" = [])))]
async fn list_dbt_projects(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(id): Path<String>,
) -> Result<Json<DbtProjectsResponse>> {
    let id = uuid_param("connectionId", &id)?;
    let projects = app.list_dbt_projects(&ctx, &id).await?;
    Ok(Json(DbtProjectsResponse {
        projects: projects
            .into_iter()
            .map(|p| DbtProjectOut {
                id: p.id,
                name: p.name,
                description: p.description,
                created_at: p.created_at.map(|t| rfc3339(t.timestamp_millis())),
                updated_at: p.updated_at.map(|t| rfc3339(t.timestamp_millis())),
            })
            .collect(),
    }))
}
