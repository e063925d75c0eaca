//! The emulated dbt Cloud Admin API: routing and helpers shared by the resource modules.

mod accounts;
pub(crate) mod auth;
mod list;
mod projects;
mod tokens;

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::envelope::ApiError;
use crate::state::SharedState;

/// State handed to every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    pub state: Arc<SharedState>,
}

/// Mounts `method_router` at `path` and at `path` with a trailing slash.
fn both(
    router: Router<AppState>,
    path: &str,
    method_router: MethodRouter<AppState>,
) -> Router<AppState> {
    router
        .route(path, method_router.clone())
        .route(&format!("{path}/"), method_router)
}

/// The dbt API routes.
pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new();
    router = both(router, "/api/v2/accounts", get(accounts::list));
    router = both(router, "/api/v3/accounts", get(accounts::list));
    router = both(
        router,
        "/api/v2/accounts/{account_id}",
        get(accounts::get_one),
    );
    router = both(
        router,
        "/api/v3/accounts/{account_id}/service-tokens",
        get(tokens::list).post(tokens::create),
    );
    router = both(
        router,
        "/api/v3/accounts/{account_id}/service-tokens/{token_id}",
        get(tokens::get_one)
            .put(tokens::rename)
            .delete(tokens::delete),
    );
    router = both(
        router,
        "/api/v3/accounts/{account_id}/service-tokens/{token_id}/permissions",
        get(tokens::permissions),
    );
    router = both(
        router,
        "/api/v3/accounts/{account_id}/projects",
        get(projects::list),
    );
    router.layer(axum::middleware::from_fn(finish_what_started))
}

/// A real server finishes a request it started when the client hangs up (a create lands even
/// if nobody hears its answer): each API request runs on its own task, so dropping the
/// connection does not cancel it halfway.
async fn finish_what_started(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::envelope::status_fault(500),
    }
}

/// Parses an integer path segment; anything else is dbt's 404.
fn path_id(segment: &str) -> Result<i64, ApiError> {
    segment.parse::<i64>().map_err(|_| ApiError::NotFound)
}

/// Collapses a handler's `Result<Response, Response>` into the response to send.
fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}
