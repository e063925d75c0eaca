//! A faithful local fake of the dbt Cloud service-token Admin API, with fault injection.
//!
//! Used in-process by tests ([`spawn`] returns an [`Emulator`] handle), and as the
//! `dbt-cloud-emulator` binary for benchmarks and the quickstart, where the same controls are
//! exposed over HTTP under `/_emulator/` (see the `control` module docs).
//!
//! The emulator serves one account. It seeds an `account_admin` service token named
//! `emulator-admin` (the first token, id 1000), so listings of the account include it.

mod api;
mod config;
mod conn;
mod control;
mod envelope;
mod exec;
mod fault;
mod handle;
mod model;
mod state;

pub use config::EmulatorConfig;
pub use fault::{Fault, FaultKind, FaultTiming, Operation};
pub use handle::{spawn, Emulator};
pub use model::{Grant, TokenInfo, PERMISSION_SETS, STATE_ACTIVE, STATE_DELETED};
pub use state::ADMIN_TOKEN_NAME;
