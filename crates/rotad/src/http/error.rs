//! Upstream's error envelope `{reqId, statusCode, message, error}` for every non-2xx answer,
//! decided in one place.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::error::Error;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The error body of every non-2xx answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub req_id: String,
    pub status_code: u16,
    /// A string, or for 422 the list of validation issues.
    pub message: Value,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Marks responses that already carry the envelope.
#[derive(Clone, Copy)]
struct Enveloped;

pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "req-unknown".to_string())
}

pub fn envelope(
    status: StatusCode,
    error: &str,
    message: Value,
    details: Option<Value>,
) -> Response {
    let body = ErrorEnvelope {
        req_id: current_request_id(),
        status_code: status.as_u16(),
        message,
        error: error.to_string(),
        details,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(Enveloped);
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::BadRequest(m) => envelope(StatusCode::BAD_REQUEST, "BadRequest", m.into(), None),
            Error::Unauthorized(m) => envelope(
                StatusCode::UNAUTHORIZED,
                "UnauthorizedError",
                m.into(),
                None,
            ),
            Error::Forbidden(m) => envelope(
                StatusCode::FORBIDDEN,
                "PermissionDenied",
                m.into(),
                Some(json!([])),
            ),
            Error::NotFound(m) => envelope(StatusCode::NOT_FOUND, "NotFound", m.into(), None),
            Error::Validation(issues) => envelope(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ValidationFailure",
                serde_json::to_value(issues).unwrap_or(Value::Null),
                None,
            ),
            Error::PayloadTooLarge => envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                "Request body is too large".into(),
                None,
            ),
            Error::TooManyRequests {
                message,
                retry_after_secs,
            } => {
                let mut response = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RateLimitExceeded",
                    message.into(),
                    None,
                );
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(retry_after_secs),
                );
                response
            }
            Error::Unavailable(m) => envelope(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                m.into(),
                None,
            ),
            Error::Internal(m) => envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                m.into(),
                None,
            ),
            Error::Unexpected(e) => {
                tracing::error!(error = ?e, request_id = %current_request_id(), "unexpected error");
                internal_error()
            }
        }
    }
}

pub fn internal_error() -> Response {
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Something went wrong".into(),
        None,
    )
}

/// The edge of every request, as one layer (each `from_fn` layer costs a boxed future and a
/// service clone per request: docs/BENCHMARKS.md): counts it for `/metrics` with the status it
/// was finally answered with, gives it an id (echoed in `x-request-id`), refuses an encoded NUL
/// in its path, and wraps any non-2xx answer that is not an envelope yet (wrong method, body
/// limits, framework rejections) in one.
pub async fn request_edge(mut request: Request, next: Next) -> Response {
    let tracked = crate::metrics::Tracked::begin(&mut request);
    let response = request_envelope(request, next).await;
    tracked.record(response.status());
    response
}

async fn request_envelope(request: Request, next: Next) -> Response {
    // 64 random bits from the thread's generator (no system call per request).
    let id = format!("req-{:016x}", rand::random::<u64>());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = match super::extract::nul_path_refusal(&request) {
                Some(refusal) => refusal,
                None => next.run(request).await,
            };
            let status = response.status();
            if (status.is_client_error() || status.is_server_error())
                && response.extensions().get::<Enveloped>().is_none()
                && response
                    .extensions()
                    .get::<super::dashboard::DashboardResponse>()
                    .is_none()
            {
                rewrap(status, &method, &path)
            } else {
                response
            }
        })
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

fn rewrap(status: StatusCode, method: &axum::http::Method, path: &str) -> Response {
    match status {
        StatusCode::NOT_FOUND => not_found_route(method, path),
        StatusCode::METHOD_NOT_ALLOWED => envelope(
            status,
            "Method Not Allowed",
            format!("Method {method} is not allowed on {path}").into(),
            None,
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge.into_response(),
        s if s.is_server_error() => internal_error(),
        s => envelope(
            s,
            s.canonical_reason().unwrap_or("Error"),
            s.canonical_reason().unwrap_or("Request failed").into(),
            None,
        ),
    }
}

fn not_found_route(method: &axum::http::Method, path: &str) -> Response {
    let message = match super::unsupported::feature(path) {
        Some(feature) => super::unsupported::message(feature, method, path),
        None => format!("Route {method}:{path} not found"),
    };
    let mut response = envelope(
        StatusCode::NOT_FOUND,
        "Not Found",
        message.clone().into(),
        None,
    );
    // Upstream's not-found body also points at the API document.
    if let Ok(body) = serde_json::to_vec(&json!({
        "reqId": current_request_id(),
        "statusCode": 404,
        "error": "Not Found",
        "message": message,
        "docs": "/api/docs/json",
    })) {
        *response.body_mut() = Body::from(body);
    }
    response
}

/// Fallback for unknown routes: under `/api` the envelope (naming an upstream feature rotad
/// leaves out), elsewhere the dashboard's not-found page.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        not_found_route(request.method(), path)
    } else {
        super::dashboard::not_found()
    }
}
