//! The one error type services return. The HTTP layer maps it to upstream's error envelope in
//! one place (`http::error`); nothing else decides status codes.

use serde::Serialize;
use serde_json::Value;

use crate::crypto::CryptoError;
use crate::store::StoreError;

/// One validation problem, shaped like the zod issues upstream answers with.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Issue {
    pub code: &'static str,
    pub path: Vec<Value>,
    pub message: String,
}

impl Issue {
    pub fn new(code: &'static str, path: &[&str], message: impl Into<String>) -> Self {
        Self {
            code,
            path: path
                .iter()
                .map(|p| match p.parse::<u64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => Value::from(*p),
                })
                .collect(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("validation failed")]
    Validation(Vec<Issue>),
    #[error("request body is too large")]
    PayloadTooLarge,
    /// A throttled caller: 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// A dependency rotad cannot work without (the database) is unreachable: 503.
    #[error("{0}")]
    Unavailable(String),
    /// A failure whose message is meant for the caller (e.g. a failed manual rotation).
    #[error("{0}")]
    Internal(String),
    /// Anything unexpected. Logged in full, answered as an opaque 500.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }
    pub fn invalid(path: &[&str], message: impl Into<String>) -> Self {
        Self::Validation(vec![Issue::new("custom", path, message)])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Unexpected(anyhow::Error::new(e))
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Error::Unexpected(anyhow::Error::new(e))
    }
}
