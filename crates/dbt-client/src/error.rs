//! Typed dbt Cloud errors. Messages come from dbt's response body (never raw HTML) and are
//! scrubbed of anything that looks like a token.

use std::time::Duration;

use thiserror::Error;

/// An error from the dbt Cloud client.
///
/// `Display` never includes the API token or a `dbtc_`/`dbtu_` token string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DbtError {
    /// The instance URL cannot be used (unparseable, wrong scheme, credentials in it...).
    #[error("{message}")]
    InvalidUrl { message: String },
    /// The instance URL points at a local, private or unresolvable address.
    #[error("{message}")]
    Blocked { message: String },
    /// An argument (account id, token, name...) is unusable before any request is made.
    #[error("invalid dbt Cloud request: {message}")]
    InvalidInput { message: String },
    /// HTTP 401: the API token is invalid, deleted, or used on the wrong host.
    #[error("dbt Cloud rejected the API token: {}", describe(401, message))]
    Unauthorized { message: Option<String> },
    /// HTTP 403: the token lacks a permission, or the account/IP is not allowed.
    #[error("dbt Cloud denied access: {}", describe(403, message))]
    Forbidden { message: Option<String> },
    /// HTTP 404.
    #[error("dbt Cloud resource not found: {}", describe(404, message))]
    NotFound { message: Option<String> },
    /// HTTP 400 or 422: dbt refused the request's content.
    #[error("dbt Cloud rejected the request: {}", describe(*status, message))]
    BadRequest {
        status: u16,
        message: Option<String>,
    },
    /// HTTP 429.
    #[error(
        "dbt Cloud rate limit exceeded{}: {}",
        retry_hint(retry_after),
        describe(429, message)
    )]
    RateLimited {
        retry_after: Option<Duration>,
        message: Option<String>,
    },
    /// HTTP 5xx.
    #[error("dbt Cloud server error: {}", describe(*status, message))]
    Server {
        status: u16,
        message: Option<String>,
    },
    /// Any other non-success status (a redirect, 408, 409...).
    #[error("unexpected answer from dbt Cloud: {}", describe(*status, message))]
    UnexpectedStatus {
        status: u16,
        message: Option<String>,
    },
    /// A success status whose body is not what dbt sends.
    #[error("invalid response from dbt Cloud (HTTP {status}): {message}")]
    InvalidResponse { status: u16, message: String },
    /// The connection failed. `request_sent` is false when it failed while connecting, so
    /// dbt cannot have seen the request.
    #[error("network error talking to dbt Cloud: {message}")]
    Network { message: String, request_sent: bool },
    /// The request did not complete within the configured timeout.
    #[error("request to dbt Cloud timed out")]
    Timeout,
    /// The HTTP client could not be set up.
    #[error("cannot set up the dbt Cloud HTTP client: {message}")]
    Internal { message: String },
}

fn describe(status: u16, message: &Option<String>) -> String {
    match message {
        Some(message) => message.clone(),
        None => format!("HTTP {status}"),
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(after) => format!(" (retry after {}s)", after.as_secs()),
        None => String::new(),
    }
}

impl DbtError {
    /// The HTTP status dbt answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DbtError::Unauthorized { .. } => Some(401),
            DbtError::Forbidden { .. } => Some(403),
            DbtError::NotFound { .. } => Some(404),
            DbtError::RateLimited { .. } => Some(429),
            DbtError::BadRequest { status, .. }
            | DbtError::Server { status, .. }
            | DbtError::UnexpectedStatus { status, .. }
            | DbtError::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// dbt's own message (`data.reason`, else `status.user_message`, else
    /// `status.developer_message`), when the response carried one.
    pub fn dbt_message(&self) -> Option<&str> {
        match self {
            DbtError::Unauthorized { message }
            | DbtError::Forbidden { message }
            | DbtError::NotFound { message }
            | DbtError::BadRequest { message, .. }
            | DbtError::RateLimited { message, .. }
            | DbtError::Server { message, .. }
            | DbtError::UnexpectedStatus { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// Whether the same request may succeed if simply tried again later
    /// (rate limit, server error, timeout, network failure).
    pub fn is_transient(&self) -> bool {
        match self {
            DbtError::RateLimited { .. }
            | DbtError::Server { .. }
            | DbtError::Network { .. }
            | DbtError::Timeout => true,
            DbtError::UnexpectedStatus { status, .. } => *status == 408,
            _ => false,
        }
    }

    /// Whether the outcome of a *write* is unknown: dbt may have performed it even though no
    /// usable answer came back (timeout, dropped connection after sending, 5xx, or a 2xx whose
    /// body could not be read). After an ambiguous create, list the tokens and sweep.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            DbtError::Timeout | DbtError::Server { .. } => true,
            DbtError::Network { request_sent, .. } => *request_sent,
            DbtError::InvalidResponse { status, .. } => (200..300).contains(status),
            _ => false,
        }
    }

    /// The delay dbt asked for with `Retry-After`, on a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DbtError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

const MAX_MESSAGE_CHARS: usize = 500;
const REDACTED: &str = "[REDACTED]";

/// Removes `secret` and every `dbtc_`/`dbtu_` token string from `text`, and bounds its length.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    let mut out = if secret.len() >= 4 {
        text.replace(secret, REDACTED)
    } else {
        text.to_owned()
    };
    for prefix in ["dbtc_", "dbtu_"] {
        out = redact_prefixed(&out, prefix);
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    out
}

fn redact_prefixed(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        out.push_str(prefix);
        out.push_str(REDACTED);
        let after = &rest[at + prefix.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_the_secret_and_token_strings() {
        let text = "bad key s3cr3t-value and dbtc_AbCdEfG123-_x, also dbtu_zz.";
        assert_eq!(
            scrub(text, "s3cr3t-value"),
            "bad key [REDACTED] and dbtc_[REDACTED], also dbtu_[REDACTED]."
        );
        let long = "x".repeat(2000);
        assert_eq!(
            scrub(&long, "secret").chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn display_falls_back_to_the_status_code() {
        let err = DbtError::Server {
            status: 502,
            message: None,
        };
        assert_eq!(err.to_string(), "dbt Cloud server error: HTTP 502");
        let err = DbtError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            message: Some("Too many requests.".into()),
        };
        assert_eq!(
            err.to_string(),
            "dbt Cloud rate limit exceeded (retry after 30s): Too many requests."
        );
    }

    #[test]
    fn ambiguity_depends_on_whether_dbt_may_have_acted() {
        assert!(DbtError::Timeout.is_ambiguous());
        assert!(DbtError::Server {
            status: 500,
            message: None
        }
        .is_ambiguous());
        assert!(DbtError::Network {
            message: String::new(),
            request_sent: true
        }
        .is_ambiguous());
        assert!(!DbtError::Network {
            message: String::new(),
            request_sent: false
        }
        .is_ambiguous());
        assert!(!DbtError::RateLimited {
            retry_after: None,
            message: None
        }
        .is_ambiguous());
        assert!(!DbtError::BadRequest {
            status: 400,
            message: None
        }
        .is_ambiguous());
        assert!(DbtError::InvalidResponse {
            status: 200,
            message: String::new()
        }
        .is_ambiguous());
    }
}
