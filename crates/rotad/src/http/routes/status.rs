//! `GET /api/status`: liveness, database reachability, and upstream's status fields.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, Result};
use crate::http::error::ErrorEnvelope;
use crate::services::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// Upstream's status answer. rotad has no SMTP, Redis, secret scanning or sign-up, and always
/// stores audit logs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusOut {
    /// The server's time (RFC 3339, UTC).
    date: String,
    message: String,
    email_configured: bool,
    invite_only_signup: bool,
    redis_configured: bool,
    secret_scanning_configured: bool,
    audit_log_storage_disabled: bool,
}

/// Liveness and database reachability: 503 while the database cannot be reached.
#[utoipa::path(get, path = "/api/status", tag = "Status", responses(
    (status = 200, body = StatusOut),
    (status = 503, description = "The database is unreachable", body = ErrorEnvelope)))]
async fn status(State(app): State<AppState>) -> Result<Json<StatusOut>> {
    app.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "GET /api/status: the database is unreachable");
        Error::Unavailable("The database is unreachable".to_string())
    })?;
    Ok(Json(StatusOut {
        date: rfc3339(now_ms()),
        message: "Ok".to_string(),
        email_configured: false,
        invite_only_signup: false,
        redis_configured: false,
        secret_scanning_configured: false,
        audit_log_storage_disabled: false,
    }))
}
