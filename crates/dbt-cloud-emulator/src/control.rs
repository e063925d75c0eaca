//! The unauthenticated control API under `/_emulator/`, mirroring the [`crate::Emulator`]
//! methods for tests and benchmarks that drive the binary over HTTP.
//!
//! | Method and path | Body | Effect |
//! |---|---|---|
//! | `GET /_emulator/info` | | `{account_id, admin_token}` |
//! | `POST /_emulator/faults` | a [`crate::Fault`] as JSON | arm a fault |
//! | `DELETE /_emulator/faults` | | disarm every fault |
//! | `PUT /_emulator/latency` | `{"ms": 50}` | set the added latency per call |
//! | `GET /_emulator/tokens` | | every token, secrets included |
//! | `POST /_emulator/tokens` | `{"name", "grants": [{"permission_set", "project_id"}]}` | create a token directly |
//! | `GET /_emulator/calls` | | call counts per operation (and `any`) |
//! | `DELETE /_emulator/calls` | | reset call counts and create-concurrency peaks |
//! | `GET /_emulator/concurrency` | | peak concurrent creates per token name |

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::api::AppState;
use crate::fault::{Fault, Operation};
use crate::model::Grant;

/// State of the control API: the dbt state plus the seeded admin secret.
#[derive(Clone)]
pub(crate) struct ControlState {
    pub app: AppState,
    pub admin_token: String,
}

pub(crate) fn router(state: ControlState) -> Router {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/faults", post(inject).delete(clear_faults))
        .route("/_emulator/latency", put(set_latency))
        .route("/_emulator/tokens", get(tokens).post(create_token))
        .route("/_emulator/calls", get(calls).delete(reset_calls))
        .route("/_emulator/concurrency", get(concurrency))
        .with_state(state)
}

async fn info(State(control): State<ControlState>) -> Response {
    Json(json!({
        "account_id": control.app.state.account_id(),
        "admin_token": control.admin_token,
    }))
    .into_response()
}

async fn inject(State(control): State<ControlState>, Json(fault): Json<Fault>) -> StatusCode {
    control.app.state.inject(fault);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(control): State<ControlState>) -> StatusCode {
    control.app.state.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn set_latency(
    State(control): State<ControlState>,
    Json(body): Json<LatencyBody>,
) -> StatusCode {
    control
        .app
        .state
        .set_latency(Duration::from_millis(body.ms));
    StatusCode::NO_CONTENT
}

async fn tokens(State(control): State<ControlState>) -> Response {
    Json(control.app.state.tokens()).into_response()
}

#[derive(Deserialize)]
struct CreateTokenBody {
    name: String,
    #[serde(default)]
    grants: Vec<Grant>,
}

async fn create_token(
    State(control): State<ControlState>,
    Json(body): Json<CreateTokenBody>,
) -> Response {
    let info = crate::handle::create_token_directly(&control.app.state, &body.name, body.grants);
    (StatusCode::CREATED, Json(info)).into_response()
}

async fn calls(State(control): State<ControlState>) -> Response {
    let counts: BTreeMap<Operation, u64> = Operation::CONCRETE
        .into_iter()
        .chain([Operation::Any])
        .map(|op| (op, control.app.state.calls(op)))
        .collect();
    Json(counts).into_response()
}

async fn reset_calls(State(control): State<ControlState>) -> StatusCode {
    control.app.state.reset_calls();
    StatusCode::NO_CONTENT
}

async fn concurrency(State(control): State<ControlState>) -> Response {
    Json(control.app.state.all_max_concurrent_creates()).into_response()
}
