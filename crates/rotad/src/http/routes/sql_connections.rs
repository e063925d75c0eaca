//! Database app connections: `/api/v1/app-connections/{app}` for `mysql` and `postgres` (create, list, get,
//! get by name, update, delete, available, check). Answers never carry the password.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connection_answers::{many, one, AppConnectionResponse, AppConnectionsResponse};
use super::connections::{
    present, AvailableConnectionOut, AvailableConnectionsResponse, ProjectQuery,
};
use crate::error::{Error, Issue, Result};
use crate::http::extract::{path_param, uuid_param, Auth, Body, Query, Validate};
use crate::providers::sql::SqlConnection;
use crate::services::connections::{
    NewSqlConnection, SqlConnectionChange, APP_MYSQL, APP_POSTGRES,
};
use crate::services::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(available))
        .routes(routes!(get_by_name))
        .routes(routes!(get, update, delete))
        .routes(routes!(check))
}

/// The database apps, by the path segment that names them.
fn sql_app(app: &str) -> Result<&'static str> {
    match app {
        APP_MYSQL => Ok(APP_MYSQL),
        APP_POSTGRES => Ok(APP_POSTGRES),
        other => Err(Error::not_found(format!(
            "rotad has no app connections of type \"{other}\""
        ))),
    }
}

/// The database app a request's path names (`{app}`): every route dispatches on it here.
pub struct SqlApp(&'static str);

impl FromRequestParts<AppState> for SqlApp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self> {
        sql_app(&path_param(parts, "app").await?).map(SqlApp)
    }
}

/// The app and the connection (`{connectionId}`, a UUID) of a route under one connection.
pub struct ConnectionAt {
    app: &'static str,
    id: String,
}

impl FromRequestParts<AppState> for ConnectionAt {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let SqlApp(app) = SqlApp::from_request_parts(parts, state).await?;
        let id = uuid_param("connectionId", &path_param(parts, "connectionId").await?)?;
        Ok(ConnectionAt { app, id })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AppPath {
    /// `mysql` or `postgres`.
    #[allow(dead_code)]
    app: String,
}

/// A database login as requests send it. Never logged: no `Debug`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlCredentialsIn {
    host: String,
    port: u16,
    #[serde(default)]
    database: String,
    username: String,
    password: String,
    #[serde(default)]
    ssl_enabled: bool,
    ssl_reject_unauthorized: Option<bool>,
    ssl_certificate: Option<String>,
}

impl From<SqlCredentialsIn> for SqlConnection {
    fn from(c: SqlCredentialsIn) -> Self {
        SqlConnection {
            host: c.host,
            port: c.port,
            database: c.database,
            username: c.username,
            password: c.password,
            ssl_enabled: c.ssl_enabled,
            ssl_reject_unauthorized: c.ssl_reject_unauthorized.unwrap_or(true),
            ssl_certificate: c.ssl_certificate,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSqlConnectionIn {
    name: String,
    /// Always `username-and-password`.
    method: String,
    credentials: SqlCredentialsIn,
    description: Option<String>,
    project_id: Option<String>,
    /// Only `false`.
    is_platform_managed_credentials: Option<bool>,
    /// Only `null`.
    gateway_id: Option<String>,
}

fn unsupported(platform_managed: Option<bool>, gateway: Option<&str>) -> Vec<Issue> {
    let mut issues = Vec::new();
    if platform_managed == Some(true) {
        issues.push(Issue::new(
            "custom",
            &["isPlatformManagedCredentials"],
            "Platform managed credentials are not supported by rotad",
        ));
    }
    if gateway.is_some() {
        issues.push(Issue::new(
            "custom",
            &["gatewayId"],
            "Gateways are not supported by rotad",
        ));
    }
    issues
}

impl Validate for CreateSqlConnectionIn {
    fn validate(&self) -> Vec<Issue> {
        unsupported(
            self.is_platform_managed_credentials,
            self.gateway_id.as_deref(),
        )
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSqlConnectionIn {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// Replaces the credentials whole; they are checked against the database first.
    credentials: Option<SqlCredentialsIn>,
    is_platform_managed_credentials: Option<bool>,
    gateway_id: Option<String>,
}

impl Validate for UpdateSqlConnectionIn {
    fn validate(&self) -> Vec<Issue> {
        unsupported(
            self.is_platform_managed_credentials,
            self.gateway_id.as_deref(),
        )
    }
}

/// Lists the organization's (or a project's) connections of a database app.
#[utoipa::path(get, path = "/api/v1/app-connections/{app}", tag = "App Connections",
    params(AppPath, ProjectQuery), responses((status = 200, body = AppConnectionsResponse)),
    security(("bearer" = [])))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlApp(kind): SqlApp,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AppConnectionsResponse>> {
    let mut connections = app.list_connections(&ctx, q.project_id.as_deref()).await?;
    connections.retain(|c| c.app == kind);
    many(&app, connections).await
}

/// Creates a database connection once its login works.
#[utoipa::path(post, path = "/api/v1/app-connections/{app}", tag = "App Connections",
    params(AppPath), request_body = CreateSqlConnectionIn,
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlApp(kind): SqlApp,
    Body(input): Body<CreateSqlConnectionIn>,
) -> Result<Json<AppConnectionResponse>> {
    let connection = app
        .create_sql_connection(
            &ctx,
            kind,
            NewSqlConnection {
                name: input.name,
                description: input.description,
                project_id: input.project_id,
                method: input.method,
                credentials: input.credentials.into(),
            },
        )
        .await?;
    one(&app, connection).await
}

/// Lists the connections of a database app the caller may use.
#[utoipa::path(get, path = "/api/v1/app-connections/{app}/available", tag = "App Connections",
    params(AppPath, ProjectQuery), responses((status = 200, body = AvailableConnectionsResponse)),
    security(("bearer" = [])))]
async fn available(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlApp(kind): SqlApp,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AvailableConnectionsResponse>> {
    let connections = app
        .available_connections(&ctx, q.project_id.as_deref())
        .await?;
    Ok(Json(AvailableConnectionsResponse {
        app_connections: connections
            .into_iter()
            .filter(|c| c.app == kind)
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

/// Gets a database connection by name.
#[utoipa::path(get, path = "/api/v1/app-connections/{app}/connection-name/{connectionName}",
    tag = "App Connections", params(AppPath, ("connectionName" = String, Path), ProjectQuery),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn get_by_name(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    SqlApp(kind): SqlApp,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<AppConnectionResponse>> {
    let connection = app
        .get_connection_by_name(&ctx, &name, q.project_id.as_deref())
        .await?;
    if connection.app != kind {
        return Err(Error::not_found(format!(
            "Could not find App Connection with name {}",
            name.trim()
        )));
    }
    one(&app, connection).await
}

/// Gets a database connection.
#[utoipa::path(get, path = "/api/v1/app-connections/{app}/{connectionId}", tag = "App Connections",
    params(AppPath, ("connectionId" = String, Path)),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    ConnectionAt { app: kind, id }: ConnectionAt,
) -> Result<Json<AppConnectionResponse>> {
    app.sql_connection_row(&ctx, kind, &id).await?;
    let connection = app.get_connection(&ctx, &id).await?;
    one(&app, connection).await
}

/// Renames a database connection, changes its description, or replaces its credentials.
#[utoipa::path(patch, path = "/api/v1/app-connections/{app}/{connectionId}", tag = "App Connections",
    params(AppPath, ("connectionId" = String, Path)), request_body = UpdateSqlConnectionIn,
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    ConnectionAt { app: kind, id }: ConnectionAt,
    Body(input): Body<UpdateSqlConnectionIn>,
) -> Result<Json<AppConnectionResponse>> {
    let change = SqlConnectionChange {
        name: input.name,
        description: input.description,
        credentials: input.credentials.map(Into::into),
    };
    let connection = app.update_sql_connection(&ctx, kind, &id, change).await?;
    one(&app, connection).await
}

/// Deletes a database connection that no rotation uses.
#[utoipa::path(delete, path = "/api/v1/app-connections/{app}/{connectionId}", tag = "App Connections",
    params(AppPath, ("connectionId" = String, Path)),
    responses((status = 200, body = AppConnectionResponse)), security(("bearer" = [])))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    ConnectionAt { app: kind, id }: ConnectionAt,
) -> Result<Json<AppConnectionResponse>> {
    app.sql_connection_row(&ctx, kind, &id).await?;
    let connection = app.delete_connection(&ctx, &id).await?;
    one(&app, connection).await
}

/// Connects with the stored credentials and runs a no-op query: 204, or 400 with the reason.
#[utoipa::path(post, path = "/api/v1/app-connections/{app}/{connectionId}/check", tag = "App Connections",
    params(AppPath, ("connectionId" = String, Path)),
    responses((status = 204, description = "The connection works")), security(("bearer" = [])))]
async fn check(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    ConnectionAt { app: kind, id }: ConnectionAt,
) -> Result<StatusCode> {
    app.check_sql_connection(&ctx, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
