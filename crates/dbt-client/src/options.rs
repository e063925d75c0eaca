//! Client tuning: timeouts, retries, and whether internal addresses are allowed.

use std::time::Duration;

/// How the client talks to dbt Cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for reads and deletes only (never for a create).
    pub max_retries: u32,
    /// First backoff delay; doubles on each retry, with jitter.
    pub retry_base_delay: Duration,
    /// Longest single wait between attempts. A `Retry-After` longer than this is not waited
    /// out: the rate-limit error is returned at once, carrying dbt's `retry_after`.
    pub max_retry_delay: Duration,
    /// Allow `http://`, loopback, private and link-local addresses (tests, emulator, on-prem
    /// proxies). Off by default: instance URLs must be public `https://` hosts.
    pub allow_internal: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_retries: 3,
            retry_base_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            allow_internal: false,
        }
    }
}
