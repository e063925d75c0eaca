//! `GET /api/v2/accounts/{id}/`, `GET /api/v2/accounts/` and `GET /api/v3/accounts/`.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::auth::{authorize, Access};
use super::{path_id, respond, AppState};
use crate::conn::ConnHandle;
use crate::envelope;
use crate::exec::run_op;
use crate::fault::Operation;

pub(crate) async fn get_one(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::AccountGet, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::Account)?;
            Ok(envelope::ok(data.account.json()))
        }))
    })
    .await
}

/// The accounts the caller can access: with a service token, only its own.
pub(crate) async fn list(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::AccountGet, || {
        respond(app.state.with_data(|data| {
            let own_account = data.account.id;
            authorize(data, &headers, own_account, Access::Account)?;
            let extra = json!({
                "filters": {},
                "order_by": "id",
                "pagination": {"count": 1, "total_count": 1},
            });
            Ok(envelope::success(
                Value::from(vec![data.account.json()]),
                extra,
            ))
        }))
    })
    .await
}
