//! App connections as answers show them: never the API token; with `credentialsHash` and the
//! connection's `project` (docs/COMPATIBILITY.md).

use std::collections::HashMap;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Result;
use crate::services::connections::AppConnection;
use crate::services::App;
use crate::store::Project;
use crate::time::rfc3339;

/// The project of a project's connection, as upstream names it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionProjectOut {
    id: String,
    name: String,
    slug: String,
    /// Always `secret-manager`: rotad's projects are all of that kind.
    #[serde(rename = "type")]
    kind: String,
}

/// The credentials as answers show them: without the API token or the password.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CredentialsOut {
    #[serde(rename_all = "camelCase")]
    Dbt {
        instance_url: String,
        account_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Sql {
        host: String,
        port: u16,
        database: String,
        username: String,
        ssl_enabled: bool,
        ssl_reject_unauthorized: bool,
        ssl_certificate: Option<String>,
    },
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOut {
    id: String,
    name: String,
    description: Option<String>,
    version: i64,
    org_id: String,
    project_id: Option<String>,
    app: String,
    method: String,
    credentials: CredentialsOut,
    is_platform_managed_credentials: bool,
    gateway_id: Option<String>,
    /// SHA-256 of the sealed credentials: changes when they do, tells nothing about them.
    credentials_hash: String,
    /// The connection's project; `null` for an organization's connection.
    project: Option<ConnectionProjectOut>,
    /// The dbt permission sets the connection hands out to the tokens it mints.
    allowed_permission_sets: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl AppConnectionOut {
    fn new(c: AppConnection, projects: &HashMap<String, Project>) -> Self {
        let project = c
            .project_id
            .as_ref()
            .and_then(|id| projects.get(id))
            .map(|p| ConnectionProjectOut {
                id: p.id.clone(),
                name: p.name.clone(),
                slug: p.slug.clone(),
                kind: "secret-manager".to_string(),
            });
        Self {
            credentials_hash: c.credentials_hash,
            project,
            id: c.id,
            name: c.name,
            description: c.description,
            version: c.version,
            org_id: c.org_id,
            project_id: c.project_id,
            app: c.app,
            method: c.method,
            credentials: match c.sql {
                None => CredentialsOut::Dbt {
                    instance_url: c.instance_url,
                    account_id: c.account_id,
                },
                Some(sql) => CredentialsOut::Sql {
                    host: sql.host,
                    port: sql.port,
                    database: sql.database,
                    username: sql.username,
                    ssl_enabled: sql.ssl_enabled,
                    ssl_reject_unauthorized: sql.ssl_reject_unauthorized,
                    ssl_certificate: sql.ssl_certificate,
                },
            },
            is_platform_managed_credentials: false,
            gateway_id: None,
            allowed_permission_sets: c.allowed_permission_sets,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionResponse {
    app_connection: AppConnectionOut,
}

/// One connection's answer, with its project.
pub(crate) async fn one(app: &App, c: AppConnection) -> Result<Json<AppConnectionResponse>> {
    let projects = app.connection_projects(std::slice::from_ref(&c)).await?;
    Ok(Json(AppConnectionResponse {
        app_connection: AppConnectionOut::new(c, &projects),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionsResponse {
    app_connections: Vec<AppConnectionOut>,
}

pub(crate) async fn many(
    app: &App,
    connections: Vec<AppConnection>,
) -> Result<Json<AppConnectionsResponse>> {
    let projects = app.connection_projects(&connections).await?;
    Ok(Json(AppConnectionsResponse {
        app_connections: connections
            .into_iter()
            .map(|c| AppConnectionOut::new(c, &projects))
            .collect(),
    }))
}
