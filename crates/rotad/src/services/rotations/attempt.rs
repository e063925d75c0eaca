//! What starts and ends one rotation attempt: who asked for it ([`Trigger`]), how it fails
//! ([`RotateError`] to callers, [`IssueFailure`] inside the engine) and the span it runs in.

use super::IN_PROGRESS;
use crate::error::Error;
use crate::providers::ProviderError;
use crate::store::StoreError;

/// The tracing target of [`rotation_span`] and of the scheduler's claim span.
pub const ROTATION_SPAN_TARGET: &str = "rotad::rotation";

/// The span one rotation attempt runs in, at DEBUG: what it logs and every SQL statement it
/// makes (sqlx traces statements in the caller's span) can be told from the background loops'.
pub fn rotation_span(rotation_id: &str) -> tracing::Span {
    tracing::debug_span!(target: ROTATION_SPAN_TARGET, "rotation", rotation_id = %rotation_id)
}

/// Who asked for a rotation.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub manual: bool,
    pub job_id: Option<String>,
    /// Whether a failure ends the episode (manual rotations always do).
    pub final_attempt: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{}", IN_PROGRESS)]
    InProgress,
    /// The attempt failed; the message is upstream's failure text. Nothing published changed.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<RotateError> for Error {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::InProgress => Error::bad_request(IN_PROGRESS),
            RotateError::Failed(m) => Error::Internal(m),
            RotateError::Other(e) => e,
        }
    }
}

/// Why an issuance produced no stored credential.
#[derive(Debug)]
pub(super) enum IssueFailure {
    /// The provider failed; an ambiguous failure (the credential may exist) is swept already.
    Provider(ProviderError),
    /// The intent was swept while the provider worked (this executor lost its lease, or a
    /// creation outlived it): the credential it got is queued for revocation.
    Settled,
    Other(Error),
}

impl From<Error> for IssueFailure {
    fn from(e: Error) -> Self {
        IssueFailure::Other(e)
    }
}

impl From<StoreError> for IssueFailure {
    fn from(e: StoreError) -> Self {
        IssueFailure::Other(e.into())
    }
}

impl From<StoreError> for RotateError {
    fn from(e: StoreError) -> Self {
        RotateError::Other(e.into())
    }
}
