//! How to start an emulator.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Emulator settings. `Default` listens on an ephemeral loopback port for account 1
/// with a freshly generated admin token and no added latency.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The one account this emulator serves.
    pub account_id: i64,
    pub account_name: String,
    /// Secret of the seeded `account_admin` service token; generated when `None`.
    pub admin_token: Option<String>,
    /// Latency added to every API call (not to the control API).
    pub latency: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            account_id: 1,
            account_name: "Emulated Account".to_owned(),
            admin_token: None,
            latency: Duration::ZERO,
        }
    }
}
