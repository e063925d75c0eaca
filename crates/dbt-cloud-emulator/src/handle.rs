//! Starting an emulator and driving it from Rust.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::EmulatorConfig;
use crate::conn::{ConnHandle, KillableListener};
use crate::control::{self, ControlState};
use crate::envelope;
use crate::fault::{Fault, Operation};
use crate::model::{Grant, TokenInfo};
use crate::state::{SharedState, ADMIN_TOKEN_NAME};

/// How long [`Emulator::shutdown`] waits for in-flight requests before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running emulator. Dropping it stops the server abruptly; [`Emulator::shutdown`] stops it
/// gracefully.
pub struct Emulator {
    state: Arc<SharedState>,
    base_url: String,
    admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Binds `config.listen` and serves the emulated API in a background tokio task.
pub async fn spawn(config: EmulatorConfig) -> anyhow::Result<Emulator> {
    let state = SharedState::new(config.account_id, config.account_name, config.latency);
    let admin = state.with_data(|data| {
        data.create(
            ADMIN_TOKEN_NAME,
            vec![(Grant::account("account_admin"), Vec::new())],
            config.admin_token.as_deref(),
        )
    });
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let base_url = format!("http://{local}");

    let app_state = AppState {
        state: Arc::clone(&state),
    };
    let control_state = ControlState {
        app: app_state.clone(),
        admin_token: admin.token_string.clone(),
    };
    let app: Router = api::router()
        .with_state(app_state)
        .merge(control::router(control_state))
        .fallback(unknown_path);

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let server = axum::serve(
        KillableListener::new(listener),
        app.into_make_service_with_connect_info::<ConnHandle>(),
    )
    .with_graceful_shutdown(async move {
        // A dropped sender also means "stop".
        let _ = shutdown_rx.await;
    });
    let task = tokio::spawn(async move {
        if let Err(err) = server.await {
            tracing::error!(error = %err, "emulator server failed");
        }
    });
    tracing::info!(%base_url, account_id = config.account_id, "dbt Cloud emulator listening");
    Ok(Emulator {
        state,
        base_url,
        admin_token: admin.token_string,
        shutdown: Some(shutdown_tx),
        task: Some(task),
    })
}

async fn unknown_path() -> Response {
    envelope::not_found()
}

/// Creates a token without going through the API (no auth, no faults, not counted).
pub(crate) fn create_token_directly(
    state: &SharedState,
    name: &str,
    grants: Vec<Grant>,
) -> TokenInfo {
    let grants = grants.into_iter().map(|g| (g, Vec::new())).collect();
    state
        .with_data(|data| data.create(name, grants, None))
        .info()
}

impl Emulator {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn account_id(&self) -> i64 {
        self.state.account_id()
    }

    /// Secret of the seeded `account_admin` token (named `emulator-admin`).
    pub fn admin_token(&self) -> String {
        self.admin_token.clone()
    }

    /// Arms `fault` for its next `times` matching calls. Faults strike in injection order.
    pub fn inject(&self, fault: Fault) {
        self.state.inject(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    /// Sets the latency added to every API call.
    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// Every token, deleted ones and the seeded admin token included, ordered by id.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.state.tokens()
    }

    /// The tokens that still authenticate (state 1), ordered by id.
    pub fn live_tokens(&self) -> Vec<TokenInfo> {
        self.tokens()
            .into_iter()
            .filter(TokenInfo::is_live)
            .collect()
    }

    /// Creates a token directly, e.g. a non-admin token for a test.
    pub fn create_token(&self, name: &str, grants: Vec<Grant>) -> TokenInfo {
        create_token_directly(&self.state, name, grants)
    }

    /// API calls of `op` since the start or the last reset; `Operation::Any` sums them all.
    pub fn calls(&self, op: Operation) -> u64 {
        self.state.calls(op)
    }

    /// Resets call counts and the create-concurrency peaks.
    pub fn reset_calls(&self) {
        self.state.reset_calls();
    }

    /// The largest number of create calls for token `name` (or `name-…`) that were in flight
    /// at once.
    pub fn max_concurrent_creates(&self, name: &str) -> u32 {
        self.state.max_concurrent_creates(name)
    }

    /// Stops accepting connections, lets in-flight requests finish (briefly), then stops.
    pub async fn shutdown(mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .field("account_id", &self.account_id())
            .finish_non_exhaustive()
    }
}
