//! `/api/v3/accounts/{id}/service-tokens/...`: create, list, get, rename, delete, permissions.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};

use super::auth::{authorize, Access};
use super::list::{page, page_response, state_filter};
use super::{path_id, respond, AppState};
use crate::conn::ConnHandle;
use crate::envelope::{self, ApiError};
use crate::exec::run_op;
use crate::fault::Operation;
use crate::model::{Grant, PERMISSION_SETS};
use crate::state::DeleteOutcome;

/// dbt publishes no limit; 255 is the common cap of its other v3 string fields.
const MAX_NAME_LEN: usize = 255;
const ENVIRONMENT_CATEGORIES: [&str; 5] = ["all", "development", "staging", "production", "other"];

pub(crate) async fn create(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = parse_create(&body);
    let tracked_name = request.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let _in_flight = app.state.begin_create(&tracked_name);
    run_op(&app.state, &conn, Operation::TokenCreate, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::WriteTokens)?;
            let request = request?;
            let token = data.create(&request.name, request.grants, None);
            Ok(envelope::ok(token.created_json()))
        }))
    })
    .await
}

pub(crate) async fn list(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path(account_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::TokenList, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::ReadTokens)?;
            let state = state_filter(&query)?;
            let page = page(&query)?;
            let items = data
                .list(state)
                .into_iter()
                .map(|t| t.public_json())
                .collect();
            let mut filters = Map::new();
            filters.insert("account_id".into(), Value::from(account_id));
            filters.insert(
                "state".into(),
                state.map_or_else(|| Value::from("all"), Value::from),
            );
            Ok(page_response(items, page, filters))
        }))
    })
    .await
}

pub(crate) async fn get_one(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::TokenGet, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::ReadTokens)?;
            let token = data.get(path_id(&token_id)?).ok_or(ApiError::NotFound)?;
            Ok(envelope::ok(token.public_json()))
        }))
    })
    .await
}

pub(crate) async fn permissions(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path((account_id, token_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::TokenGet, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::ReadTokens)?;
            let token_id = path_id(&token_id)?;
            let token = data.get(token_id).ok_or(ApiError::NotFound)?;
            let page = page(&query)?;
            let mut filters = Map::new();
            filters.insert("account_id".into(), Value::from(account_id));
            filters.insert("service_token_id".into(), Value::from(token_id));
            Ok(page_response(token.permission_rows(), page, filters))
        }))
    })
    .await
}

pub(crate) async fn rename(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_op(&app.state, &conn, Operation::TokenUpdate, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::WriteTokens)?;
            let token_id = path_id(&token_id)?;
            let body = parse_object(&body)?;
            let name = parse_name(body.get("name"))?;
            let token = data.rename(token_id, &name).ok_or(ApiError::NotFound)?;
            Ok(envelope::ok(token.public_json()))
        }))
    })
    .await
}

pub(crate) async fn delete(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    Path((account_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    run_op(&app.state, &conn, Operation::TokenDelete, || {
        respond(app.state.with_data(|data| {
            let account_id = path_id(&account_id)?;
            authorize(data, &headers, account_id, Access::WriteTokens)?;
            match data.delete(path_id(&token_id)?) {
                DeleteOutcome::Deleted => Ok(envelope::no_content()),
                DeleteOutcome::NotFound => Err(ApiError::NotFound),
            }
        }))
    })
    .await
}

/// A validated create request.
#[derive(Debug)]
struct CreateRequest {
    name: String,
    grants: Vec<(Grant, Vec<String>)>,
}

fn parse_create(body: &[u8]) -> Result<CreateRequest, ApiError> {
    let body = parse_object(body)?;
    let name = parse_name(body.get("name"))?;
    let grants = match body.get("permission_grants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(parse_grant).collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::field(
                "permission_grants",
                "Expected a list of items.",
            ))
        }
    };
    Ok(CreateRequest { name, grants })
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::InvalidBody("expected a JSON object".into())),
        Err(err) => Err(ApiError::InvalidBody(err.to_string())),
    }
}

fn parse_name(value: Option<&Value>) -> Result<String, ApiError> {
    match value {
        None | Some(Value::Null) => Err(ApiError::field("name", "This field is required.")),
        Some(Value::String(name)) if name.trim().is_empty() => {
            Err(ApiError::field("name", "This field may not be blank."))
        }
        Some(Value::String(name)) if name.chars().count() > MAX_NAME_LEN => Err(ApiError::field(
            "name",
            "Ensure this field has no more than 255 characters.",
        )),
        Some(Value::String(name)) => Ok(name.clone()),
        Some(_) => Err(ApiError::field("name", "Not a valid string.")),
    }
}

fn parse_grant(item: &Value) -> Result<(Grant, Vec<String>), ApiError> {
    let Some(item) = item.as_object() else {
        return Err(ApiError::field(
            "permission_grants",
            "Each grant must be an object.",
        ));
    };
    let permission_set = match item.get("permission_set") {
        Some(Value::String(set)) if PERMISSION_SETS.contains(&set.as_str()) => set.clone(),
        Some(Value::String(set)) => {
            return Err(ApiError::field(
                "permission_grants",
                &format!("\"{set}\" is not a valid choice for permission_set."),
            ))
        }
        _ => {
            return Err(ApiError::field(
                "permission_grants",
                "permission_set is required.",
            ))
        }
    };
    let project_id = match item.get("project_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_i64().ok_or_else(|| {
            ApiError::field("permission_grants", "project_id must be an integer.")
        })?),
    };
    let categories = match item.get("writable_environment_categories") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| match v.as_str() {
                Some(c) if ENVIRONMENT_CATEGORIES.contains(&c) => Ok(c.to_owned()),
                _ => Err(ApiError::field(
                    "permission_grants",
                    "writable_environment_categories contains an invalid choice.",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::field(
                "permission_grants",
                "writable_environment_categories must be a list.",
            ))
        }
    };
    Ok((
        Grant {
            permission_set,
            project_id,
        },
        categories,
    ))
}
