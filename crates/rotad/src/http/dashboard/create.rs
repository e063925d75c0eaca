//! The create-rotation form. Its post is turned into the API's create body and goes through
//! the API's own parsing, rules and service call, so an invalid field gets the API's message,
//! shown next to that field.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::html::{attr, csrf_field, environment_select, esc, field, notice, page, select};
use super::{html_response, redirect, Dash, DashError, Form};
use crate::error::Error;
use crate::http::extract::parse_checked;
use crate::http::routes::rotations::{create_from, CreateRotationIn};
use crate::providers::dbt::PERMISSION_SETS;
use crate::services::AppState;

/// Which form field an issue's path (`parameters.tokenName`, ...) belongs to.
fn field_of(path: &str) -> &'static str {
    match path {
        p if p.starts_with("rotateAtUtc") => "rotateAt",
        p if p.starts_with("parameters.permissionGrants") => "grants",
        "parameters.tokenName" => "tokenName",
        p if p.starts_with("secretsMapping") => "secretName",
        "name" => "name",
        "connectionId" => "connectionId",
        "environment" => "environment",
        "secretPath" => "secretPath",
        "rotationInterval" => "rotationInterval",
        "description" => "description",
        _ => "",
    }
}

async fn render(
    app: &AppState,
    dash: &Dash,
    project_id: &str,
    form: &Form,
    errors: &HashMap<&'static str, String>,
    general: Option<&str>,
) -> Result<String, DashError> {
    let ctx = dash.ctx();
    let project = app.get_project(ctx, project_id).await?;
    let connections = app
        .available_connections(ctx, Some(&project.project.id))
        .await?;
    let value = |name: &str, default: &str| {
        let v = form.get(name);
        if form.0.is_empty() {
            default.to_string()
        } else {
            v.to_string()
        }
    };
    let err = |name: &str| errors.get(name).map(String::as_str);
    let mut body = String::new();
    if let Some(g) = general {
        body.push_str(&notice("error", g));
    }
    if !errors.is_empty() {
        body.push_str(&notice(
            "error",
            "The rotation was not created: see the fields below.",
        ));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/projects/{}/rotations/new\" class=\"card\" novalidate>{}",
        attr(&project.project.id),
        csrf_field(&dash.session)
    );
    if !connections
        .iter()
        .any(|c| c.app == crate::services::connections::APP_DBT)
    {
        let _ = write!(
            body,
            "{}",
            notice(
                "error",
                "No dbt connection is available to you in this project: create one on the \
                 project's Connections page first."
            )
        );
    }
    // Connection and environment pickers.
    body.push_str(&select(
        "f-connectionId",
        "connectionId",
        "Connection",
        connections
            .iter()
            .filter(|c| c.app == crate::services::connections::APP_DBT)
            .map(|c| (c.id.as_str(), c.name.as_str())),
        form.get("connectionId"),
        err("connectionId"),
    ));
    body.push_str(&environment_select(
        "f-environment",
        &project.environments,
        form.get("environment"),
        err("environment"),
    ));
    body.push_str(&field(
        "secretPath",
        "Secret path",
        &value("secretPath", "/"),
        "text",
        err("secretPath"),
        "",
    ));
    body.push_str(&field(
        "name",
        "Rotation name",
        &value("name", ""),
        "text",
        err("name"),
        "required",
    ));
    body.push_str(&field(
        "description",
        "Description (optional)",
        &value("description", ""),
        "text",
        err("description"),
        "",
    ));
    body.push_str(&field(
        "rotationInterval",
        &format!("Interval ({})", super::rotation::unit_name(app)),
        &value("rotationInterval", "30"),
        "number",
        err("rotationInterval"),
        "min=\"1\"",
    ));
    body.push_str(&field(
        "rotateAt",
        "Time of day (UTC)",
        &value("rotateAt", "00:00"),
        "time",
        err("rotateAt"),
        "",
    ));
    let auto_checked = form.0.is_empty() || form.get("isAutoRotationEnabled") == "true";
    let _ = write!(
        body,
        "<div class=\"check\"><input id=\"f-auto\" type=\"checkbox\" name=\"isAutoRotationEnabled\" value=\"true\"{}>\
         <label for=\"f-auto\">Rotate automatically</label></div>",
        if auto_checked { " checked" } else { "" }
    );
    body.push_str(&field(
        "tokenName",
        "dbt token name",
        &value("tokenName", ""),
        "text",
        err("tokenName"),
        "",
    ));
    let chosen = form.all("permissionSet");
    let _ = write!(
        body,
        "<div class=\"field\"><label for=\"f-permissionSet\">dbt permission sets</label>\
         <select id=\"f-permissionSet\" name=\"permissionSet\" multiple size=\"6\"{}>",
        if err("grants").is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        }
    );
    for set in PERMISSION_SETS {
        let _ = write!(
            body,
            "<option value=\"{set}\"{}>{set}</option>",
            if chosen.contains(&set) || (form.0.is_empty() && set == "job_runner") {
                " selected"
            } else {
                ""
            }
        );
    }
    body.push_str("</select>");
    if let Some(e) = err("grants") {
        let _ = write!(
            body,
            "<p class=\"field-error\"><strong>Error:</strong> {}</p>",
            esc(e)
        );
    }
    body.push_str("</div>");
    body.push_str(&field(
        "dbtProjectId",
        "dbt project id (optional, for every set chosen)",
        &value("dbtProjectId", ""),
        "number",
        None,
        "",
    ));
    body.push_str(&field(
        "secretName",
        "Secret name (receives the token)",
        &value("secretName", ""),
        "text",
        err("secretName"),
        "",
    ));
    body.push_str("<button type=\"submit\">Create rotation</button></form>");
    Ok(page(
        &format!("New rotation in {}", project.project.name),
        Some(&dash.session),
        &body,
    ))
}

pub async fn form(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Response, DashError> {
    let body = render(&app, &dash, &id, &Form(Vec::new()), &HashMap::new(), None).await?;
    Ok(html_response(StatusCode::OK, body))
}

/// A number when the text is one, else the text itself (so the API's type message shows).
fn number_or_text(text: &str) -> Value {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::from(text))
}

/// The API's create body for the form's fields.
fn body_of(project_id: &str, form: &Form) -> Value {
    let dbt_project = form.get("dbtProjectId").trim();
    let grants: Vec<Value> = form
        .all("permissionSet")
        .into_iter()
        .map(|set| {
            let mut grant = json!({"permissionSet": set});
            if !dbt_project.is_empty() {
                grant["projectId"] = number_or_text(dbt_project);
            }
            grant
        })
        .collect();
    let mut body = json!({
        "name": form.get("name"),
        "projectId": project_id,
        "connectionId": form.get("connectionId"),
        "environment": form.get("environment"),
        "secretPath": form.get("secretPath"),
        "isAutoRotationEnabled": form.get("isAutoRotationEnabled") == "true",
        "rotationInterval": number_or_text(form.get("rotationInterval")),
        "parameters": {"tokenName": form.get("tokenName"), "permissionGrants": grants},
        "secretsMapping": {"serviceToken": form.get("secretName")},
    });
    if let Some((h, m)) = form.get("rotateAt").trim().split_once(':') {
        body["rotateAtUtc"] =
            json!({"hours": number_or_text(h), "minutes": number_or_text(m.get(..2).unwrap_or(m))});
    }
    if !form.get("description").trim().is_empty() {
        body["description"] = json!(form.get("description"));
    }
    body
}

pub async fn submit(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    let form = dash.form(&app, &headers, &body)?;
    let outcome = match parse_checked::<CreateRotationIn>(body_of(&id, &form)) {
        Ok(input) => create_from(&app, dash.ctx(), input).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(view) => Ok(redirect(&format!(
            "/rotations/{}?done=created",
            view.row.id
        ))),
        Err(Error::Validation(issues)) => {
            let mut errors: HashMap<&'static str, String> = HashMap::new();
            let mut general = Vec::new();
            for issue in issues {
                let path = issue
                    .path
                    .iter()
                    .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(".");
                match field_of(&path) {
                    "" => general.push(issue.message),
                    f => {
                        errors
                            .entry(f)
                            .and_modify(|m| {
                                m.push_str("; ");
                                m.push_str(&issue.message);
                            })
                            .or_insert(issue.message);
                    }
                }
            }
            let general = (!general.is_empty()).then(|| general.join("; "));
            let page = render(&app, &dash, &id, &form, &errors, general.as_deref()).await?;
            Ok(html_response(StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(
            e @ (Error::BadRequest(_)
            | Error::NotFound(_)
            | Error::Forbidden(_)
            | Error::Internal(_)),
        ) => {
            let (status, message) = super::status_and_message(&e);
            if status == StatusCode::FORBIDDEN {
                return Err(e.into());
            }
            let page = render(&app, &dash, &id, &form, &HashMap::new(), Some(&message)).await?;
            Ok(html_response(status, page))
        }
        Err(e) => Err(e.into()),
    }
}
