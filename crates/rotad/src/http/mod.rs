//! The HTTP API: one router per resource, the OpenAPI document generated from the handlers,
//! and the layers every request passes (request id, error envelope, body limit, panics).

mod conventions;
pub mod dashboard;
pub mod error;
pub mod extract;
mod openapi;
pub mod routes;
pub mod serve;
mod unsupported;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::services::AppState;

pub use openapi::openapi;

/// All API routes with their OpenAPI description.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::status::router())
        .merge(routes::auth::router())
        .merge(routes::identities::router())
        .merge(routes::projects::router())
        .merge(routes::folders::router())
        .merge(routes::folders_v2::router())
        .merge(routes::environments::router())
        .merge(routes::secrets::router())
        .merge(routes::secret_writes::router())
        .merge(routes::secrets_batch::router())
        .merge(routes::secret_imports::router())
        .merge(routes::tags::router())
        .merge(routes::connections::router())
        .merge(routes::rotations::router())
        .merge(routes::audit::router())
        .merge(routes::webhooks::router())
}

pub fn router(app: AppState) -> Router {
    let request_timeout = app.settings.request_timeout;
    let (router, doc) = api().split_for_parts();
    let doc = openapi::finish(doc);
    router
        .route(
            "/api/docs/json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            conventions::etag,
        ))
        .route_layer(axum::middleware::from_fn(crate::metrics::tag_route))
        // The dashboard's pages, after the API's route layers (entity tags are the API's).
        .merge(dashboard::router())
        .fallback(error::fallback)
        .with_state(app)
        .layer(axum::middleware::from_fn(extract::reject_nul_path))
        .layer(CatchPanicLayer::custom(|_| error::internal_error()))
        // Slow clients: a request (its body included) that takes too long is answered 408.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(request_timeout))
        .layer(RequestBodyLimitLayer::new(extract::BODY_LIMIT))
        .layer(axum::middleware::from_fn(error::request_envelope))
        // Outside the envelope, the body limit and the panic guard: every request is counted
        // with the status it was answered with.
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(TraceLayer::new_for_http())
}
