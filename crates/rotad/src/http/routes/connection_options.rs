//! `GET /api/v1/app-connections/options`: the apps a connection can be made to, with their
//! methods, in upstream's list shape. rotad offers dbt only.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::extract::Auth;
use crate::services::connections::{APP_DBT, METHOD_API_TOKEN};
use crate::services::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_options))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOption {
    name: String,
    app: String,
    methods: Vec<String>,
    /// Whether the app's credentials may be handed over to the platform: never for dbt.
    supports_platform_management: bool,
    /// Whether connections may go through a gateway: never in rotad.
    supports_gateways: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOptionsResponse {
    app_connection_options: Vec<AppConnectionOption>,
}

/// Lists the apps connections can be made to (dbt only), for any signed-in caller.
#[utoipa::path(get, path = "/api/v1/app-connections/options", tag = "App Connections",
    responses((status = 200, body = AppConnectionOptionsResponse)), security(("bearer" = [])))]
async fn list_options(Auth(_ctx): Auth) -> Result<Json<AppConnectionOptionsResponse>> {
    Ok(Json(AppConnectionOptionsResponse {
        app_connection_options: vec![AppConnectionOption {
            name: "DBT".to_string(),
            app: APP_DBT.to_string(),
            methods: vec![METHOD_API_TOKEN.to_string()],
            supports_platform_management: false,
            supports_gateways: false,
        }],
    }))
}
