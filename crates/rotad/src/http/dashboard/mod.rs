//! The web dashboard (docs/ARCHITECTURE.md, "Dashboard"): server-rendered pages under `/`,
//! beside the API under `/api`, one module per page. Handlers resolve the session to the same
//! caller context an API request with the session's token gets, and call the same services:
//! the dashboard has no permission rules of its own.

mod audit;
mod connections;
mod create;
pub mod html;
mod overview;
mod rotation;
mod signin;
mod webhooks;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::Error;
use crate::http::extract::Meta;
use crate::services::sessions::Session;
use crate::services::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "rotad_session";
/// The header a script's POST carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; object-src 'none'";

/// Marks a response as the dashboard's own (HTML, not the API's error envelope).
#[derive(Clone, Copy)]
pub struct DashboardResponse;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::index))
        .route("/projects/{id}", get(overview::project))
        .route("/projects/{id}/live", get(overview::live))
        .route("/sign-in", get(signin::form).post(signin::submit))
        .route("/sign-in/link", get(signin::link))
        .route("/sign-out", post(signin::sign_out))
        .route("/rotations/{id}", get(rotation::show))
        .route("/rotations/{id}/{action}", post(rotation::act))
        .route(
            "/projects/{id}/rotations/new",
            get(create::form).post(create::submit),
        )
        .route(
            "/projects/{id}/connections",
            get(connections::list).post(connections::create),
        )
        .route(
            "/projects/{id}/connections/{conn}/{action}",
            post(connections::act),
        )
        .route("/audit", get(audit::list))
        .route(
            "/projects/{id}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route("/projects/{id}/webhooks/{hook}/test", post(webhooks::test))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
        .layer(axum::middleware::from_fn(headers))
}

/// The headers of every dashboard answer (docs/SECURITY.md, "Dashboard").
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    secure(&mut response);
    response
}

fn secure(response: &mut Response) {
    let h = response.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response.extensions_mut().insert(DashboardResponse);
}

/// The dashboard's page for a path that is neither a page nor under `/api`.
pub fn not_found() -> Response {
    let body = html::page(
        "Not found",
        None,
        "<p>There is no page here. <a href=\"/\">Go to the overview</a>.</p>",
    );
    let mut response = html_response(StatusCode::NOT_FOUND, body);
    secure(&mut response);
    response
}

pub fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    response.extensions_mut().insert(DashboardResponse);
    response
}

pub fn redirect(to: &str) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.extensions_mut().insert(DashboardResponse);
    response
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/dashboard.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/dashboard.js"),
    )
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// An error shown as a page: a missing or ended session sends a page load to sign-in; anything
/// else is a page with the status and the services' message.
pub struct DashError {
    pub error: Error,
    pub page_load: bool,
}

impl From<Error> for DashError {
    fn from(error: Error) -> Self {
        DashError {
            error,
            page_load: false,
        }
    }
}

impl From<crate::store::StoreError> for DashError {
    fn from(e: crate::store::StoreError) -> Self {
        DashError::from(Error::from(e))
    }
}

/// The status and the text to show for a service error.
pub fn status_and_message(error: &Error) -> (StatusCode, String) {
    match error {
        Error::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
        Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
        Error::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
        Error::Validation(issues) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            issues
                .iter()
                .map(|i| i.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Error::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large".to_string(),
        ),
        Error::TooManyRequests { message, .. } => (StatusCode::TOO_MANY_REQUESTS, message.clone()),
        Error::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
        Error::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m.clone()),
        Error::Unexpected(e) => {
            tracing::error!(error = ?e, "unexpected error in the dashboard");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong".to_string(),
            )
        }
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        if self.page_load && matches!(self.error, Error::Unauthorized(_)) {
            let mut response = redirect("/sign-in");
            response.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "rotad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                ),
            );
            return response;
        }
        let (status, message) = status_and_message(&self.error);
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html::page(
            title,
            None,
            &format!(
                "{}<p><a href=\"/\">Back to the overview</a></p>",
                html::notice("error", &message)
            ),
        );
        html_response(status, body)
    }
}

/// The value of cookie `name` in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A signed-in caller: the session, resolved to the API's caller context.
pub struct Dash {
    pub session: Session,
    /// The session's id as the browser holds it.
    pub id: String,
}

impl FromRequestParts<AppState> for Dash {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, DashError> {
        let page_load = parts.method == Method::GET;
        let reject = |error: Error| DashError { error, page_load };
        let id = cookie(&parts.headers, COOKIE)
            .ok_or_else(|| reject(Error::unauthorized("Please sign in")))?;
        let Meta(meta) = Meta::from_request_parts(parts, app).await.map_err(reject)?;
        let session = app.dashboard_session(&id, meta).await.map_err(reject)?;
        Ok(Dash { session, id })
    }
}

/// A posted form's fields, in order.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Whether the request's `Origin`, when it has one, is this server (or its public URL).
pub fn same_origin(app: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if let Some(public) = &app.settings.public_url {
        if origin.trim_end_matches('/') == public.trim_end_matches('/') {
            return true;
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    !host.is_empty()
        && origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|rest| rest == host)
}

impl Dash {
    /// The posted form, once its CSRF token (field `csrf`, or the `X-CSRF-Token` header) and
    /// its origin check out: 403 otherwise, before anything is done.
    pub fn form(
        &self,
        app: &AppState,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Form, DashError> {
        let form = Form::parse(body);
        if !same_origin(app, headers) {
            return Err(Error::forbidden("Cross-origin form posts are refused").into());
        }
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| form.get("csrf"));
        if presented.is_empty() || !app.dashboard_csrf_ok(&self.id, presented) {
            return Err(Error::forbidden("Invalid or missing CSRF token").into());
        }
        Ok(form)
    }

    pub fn ctx(&self) -> &crate::services::Ctx {
        &self.session.ctx
    }
}

/// The `Set-Cookie` value of a new session: `Secure` when the server's public URL is https.
pub fn session_cookie(app: &AppState, id: &str, expires_at: i64) -> String {
    let max_age = ((expires_at - crate::time::now_ms()) / 1000).max(0);
    let secure = app
        .settings
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}
