//! `GET /api/v3/accounts/{id}/projects/`.

use std::collections::HashMap;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};

use super::auth::{authorize, Access};
use super::list::{page, page_response};
use super::{path_id, respond, AppState};
use crate::conn::ConnHandle;
use crate::exec::run_op;
use crate::fault::Operation;

pub(crate) async fn list(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(account_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::ProjectList, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::Account)?;
            let page = page(&query)?;
            let items = data.projects.iter().map(|p| p.json()).collect();
            let mut filters = Map::new();
            filters.insert("account_id".into(), Value::from(account_id));
            Ok(page_response(items, page, filters))
        }))
    })
    .await
}
