//! Typed client for the dbt Cloud Administrative API, as used by rotad to rotate service
//! tokens: account validation, service-token create / get / list / delete, and projects.
//!
//! - Base URLs come from a connection's `instanceUrl` and pass an SSRF guard
//!   ([`validate_instance_url`]); `http://` and internal addresses need
//!   [`ClientOptions::allow_internal`].
//! - Reads and deletes are retried on 429 / 5xx / network errors with exponential backoff
//!   and jitter. A create is never retried; see [`DbtError::is_ambiguous`].
//! - Errors carry dbt's own message and never the API token or any token string.

mod client;
mod envelope;
mod error;
mod instance;
mod model;
mod options;
mod retry;
mod secret;
mod transport;

pub use client::DbtClient;
pub use envelope::parse_timestamp;
pub use error::DbtError;
pub use instance::{resolve_instance_url, validate_instance_url, InstanceUrl};
pub use model::{
    Account, CreatedToken, PermissionGrant, Project, ServiceToken, TokenState, STATE_ACTIVE,
    STATE_DELETED,
};
pub use options::ClientOptions;
pub use secret::ApiToken;
