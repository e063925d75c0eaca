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
use tower::ServiceBuilder;
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

/// The API and the dashboard with their route layers: what [`service`] wraps.
pub fn router(app: AppState) -> Router {
    let (router, doc) = api().split_for_parts();
    // Kept serialized (about 170 KB), not as the document's tree: that was some 5 MB of small
    // allocations, most of an idle server's heap (docs/BENCHMARKS.md, "Idle memory").
    let doc = openapi::serialized(&openapi::finish(doc));
    router
        .route(
            "/api/docs/json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc,
                    )
                }
            }),
        )
        // One route layer (entity tags, the route's template for the metrics): each route layer
        // is a boxed service around every route, cloned with it on every request.
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            conventions::per_route,
        ))
        // The dashboard's pages, after the API's route layers (entity tags are the API's).
        .merge(dashboard::router())
        .fallback(error::fallback)
        .with_state(app)
}

/// What the listener serves: [`router`] inside the layers every request passes, outermost
/// first. They wrap the router once, as one service, not each of its routes (`Router::layer`
/// would box every layer around every route, and a request would clone that nest at each
/// level: docs/BENCHMARKS.md, "Morning of 4 December").
pub fn service(
    app: AppState,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::http::Response<
        impl hyper::body::Body<Data = axum::body::Bytes, Error = impl Into<tower::BoxError>>
            + Send
            + 'static,
    >,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    let request_timeout = app.settings.request_timeout;
    ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        // Outside the body limit and the panic guard: every request is counted with the
        // status it was answered with, has an id, and any error leaves as the envelope.
        .layer(axum::middleware::from_fn(error::request_edge))
        // Below here the request's body is no longer axum's `Body` (limited, timed): the
        // router takes any body, `from_fn` layers only axum's.
        .layer(RequestBodyLimitLayer::new(extract::BODY_LIMIT))
        // Slow clients: a request (its body included) that takes too long is answered 408.
        .layer(RequestBodyTimeoutLayer::new(request_timeout))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| error::internal_error()))
        .service(router(app))
}
