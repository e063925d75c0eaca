//! dbt Cloud's `{status, data, extra}` response envelope and its standard errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub(crate) const NOT_FOUND_MESSAGE: &str = "The requested resource was not found.";
pub(crate) const INVALID_REQUEST_MESSAGE: &str =
    "The request was invalid. Please double check the provided data and try again.";
pub(crate) const NO_PERMISSION_MESSAGE: &str =
    "Forbidden: You do not have permission to access this resource.";

/// A 200 with a detail payload.
pub(crate) fn ok(data: Value) -> Response {
    success(data, json!({}))
}

/// A 200 with a payload and list metadata.
pub(crate) fn success(data: Value, extra: Value) -> Response {
    let body = json!({
        "status": {
            "code": 200,
            "is_success": true,
            "user_message": "Success!",
            "developer_message": "",
        },
        "data": data,
        "extra": extra,
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// A 204 with no body.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// An error envelope.
pub(crate) fn error(
    code: u16,
    user_message: &str,
    developer_message: Value,
    data: Value,
) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "status": {
            "code": status.as_u16(),
            "is_success": false,
            "user_message": user_message,
            "developer_message": developer_message,
        },
        "data": data,
    });
    (status, Json(body)).into_response()
}

/// A dbt API error, rendered as dbt's error envelope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 401 `Invalid token.`: missing, malformed, unknown or deleted token.
    InvalidToken,
    /// 403 `Forbidden: Access denied`: the token belongs to another account.
    AccessDenied { account_id: i64 },
    /// 403: the token lacks the grant the operation needs.
    NoPermission,
    /// 404 `The requested resource was not found.`
    NotFound,
    /// 400 whose `data` maps each failing field to a message.
    InvalidFields(Value),
    /// 400 for a body that is not the expected JSON; the detail goes to `developer_message`.
    InvalidBody(String),
}

impl ApiError {
    /// A 400 for one field.
    pub fn field(field: &str, message: &str) -> Self {
        ApiError::InvalidFields(json!({ field: message }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::InvalidToken => error(401, "Invalid token.", Value::Null, Value::Null),
            ApiError::AccessDenied { account_id } => error(
                403,
                "Forbidden: Access denied",
                Value::Null,
                json!({
                    "account_id": account_id,
                    "user_id": null,
                    "is_service_token": true,
                    "account_access_denied": true,
                }),
            ),
            ApiError::NoPermission => error(403, NO_PERMISSION_MESSAGE, Value::Null, Value::Null),
            ApiError::NotFound => not_found(),
            ApiError::InvalidFields(fields) => {
                error(400, INVALID_REQUEST_MESSAGE, Value::from(""), fields)
            }
            ApiError::InvalidBody(detail) => error(
                400,
                INVALID_REQUEST_MESSAGE,
                Value::from(format!("Invalid request data: {detail}")),
                Value::Null,
            ),
        }
    }
}

pub(crate) fn not_found() -> Response {
    error(404, NOT_FOUND_MESSAGE, Value::from(""), Value::Null)
}

/// The generic message dbt (or its gateway) gives for a status code.
pub(crate) fn message_for(code: u16) -> &'static str {
    match code {
        400 => INVALID_REQUEST_MESSAGE,
        401 => "Invalid token.",
        403 => "Forbidden: Access denied",
        404 => NOT_FOUND_MESSAGE,
        429 => "Too many requests. Please try again later.",
        500..=599 => "There was a server error. Please contact support!",
        _ => "The request could not be completed.",
    }
}

/// A fault's JSON envelope answer.
pub(crate) fn status_fault(code: u16) -> Response {
    error(code, message_for(code), Value::Null, Value::Null)
}

/// A gateway-style HTML answer.
pub(crate) fn html_fault(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n",
        code = status.as_u16()
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A 429 with `Retry-After`.
pub(crate) fn rate_limited(retry_after_secs: u64) -> Response {
    let mut response = status_fault(429);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}
