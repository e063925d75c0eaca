//! A project's dbt connections: list, create, check (probe dbt Cloud), edit.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::html::{attr, csrf_field, esc, notice, page, time};
use super::{html_response, Dash, DashError};
use crate::error::Error;
use crate::services::connections::{ConnectionChange, DbtCredentials, NewConnection, APP_DBT};
use crate::services::AppState;
use crate::time::now_ms;

async fn render(
    app: &AppState,
    dash: &Dash,
    project_id: &str,
    message: Option<(&str, String)>,
) -> Result<String, DashError> {
    let ctx = dash.ctx();
    let project = app.get_project(ctx, project_id).await?;
    let pid = attr(&project.project.id);
    let connections = app
        .available_connections(ctx, Some(&project.project.id))
        .await?;
    let csrf = csrf_field(&dash.session);
    let now = now_ms();
    let mut body = String::new();
    if let Some((kind, text)) = message {
        body.push_str(&notice(kind, &text));
    }
    let _ = write!(
        body,
        "<p><a href=\"/projects/{pid}\">← Back to the project's rotations</a></p>"
    );
    if connections.is_empty() {
        body.push_str("<p>No connections are available to this project.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">App</th>\
             <th scope=\"col\">Scope</th><th scope=\"col\">Instance</th><th scope=\"col\">Account</th>\
             <th scope=\"col\">Updated</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
        );
        for c in &connections {
            let cid = attr(&c.id);
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>",
                esc(&c.name),
                esc(&c.app),
                if c.project_id.is_some() { "project" } else { "organization" },
                esc(&c.instance_url),
                esc(&c.account_id),
                time(Some(c.updated_at), now, ""),
            );
            if c.app == APP_DBT {
                let _ = write!(
                    body,
                    "<form method=\"post\" action=\"/projects/{pid}/connections/{cid}/check\" data-progress=\"Checking…\">{csrf}\
                     <button type=\"submit\">Check</button></form>\
                     <details><summary>Edit</summary><form method=\"post\" action=\"/projects/{pid}/connections/{cid}/edit\">{csrf}\
                     <div class=\"field\"><label for=\"e-name-{cid}\">Name</label><input id=\"e-name-{cid}\" name=\"name\" value=\"{}\"></div>\
                     <div class=\"field\"><label for=\"e-desc-{cid}\">Description</label><input id=\"e-desc-{cid}\" name=\"description\" value=\"{}\"></div>\
                     <div class=\"field\"><label for=\"e-token-{cid}\">New API token (leave empty to keep)</label>\
                     <input id=\"e-token-{cid}\" name=\"apiToken\" type=\"password\" autocomplete=\"off\"></div>\
                     <button type=\"submit\">Save</button></form></details>",
                    attr(&c.name),
                    attr(c.description.as_deref().unwrap_or("")),
                );
            }
            body.push_str("</td></tr>");
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<h2>New dbt connection</h2><form method=\"post\" action=\"/projects/{pid}/connections\" class=\"card\">{csrf}\
         <div class=\"field\"><label for=\"f-name\">Name</label><input id=\"f-name\" name=\"name\" required></div>\
         <div class=\"field\"><label for=\"f-url\">Instance URL</label><input id=\"f-url\" name=\"instanceUrl\" type=\"url\" placeholder=\"https://cloud.getdbt.com\" required></div>\
         <div class=\"field\"><label for=\"f-account\">Account id</label><input id=\"f-account\" name=\"accountId\" required></div>\
         <div class=\"field\"><label for=\"f-token\">Account-admin API token</label><input id=\"f-token\" name=\"apiToken\" type=\"password\" autocomplete=\"off\" required></div>\
         <div class=\"field\"><label for=\"f-desc\">Description (optional)</label><input id=\"f-desc\" name=\"description\"></div>\
         <button type=\"submit\">Create connection</button></form>"
    );
    Ok(page(
        &format!("Connections of {}", project.project.name),
        Some(&dash.session),
        &body,
    ))
}

pub async fn list(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Response, DashError> {
    Ok(html_response(
        StatusCode::OK,
        render(&app, &dash, &id, None).await?,
    ))
}

/// A service error as a notice on the page (403s are pages of their own).
async fn failed(
    app: &AppState,
    dash: &Dash,
    project: &str,
    e: Error,
) -> Result<Response, DashError> {
    let (status, message) = super::status_and_message(&e);
    if matches!(
        e,
        Error::Forbidden(_) | Error::Unauthorized(_) | Error::Unexpected(_)
    ) {
        return Err(e.into());
    }
    Ok(html_response(
        status,
        render(app, dash, project, Some(("error", message))).await?,
    ))
}

pub async fn create(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    let form = dash.form(&app, &headers, &body)?;
    let description = Some(form.get("description").trim().to_string()).filter(|d| !d.is_empty());
    let input = NewConnection {
        name: form.get("name").trim().to_string(),
        description,
        project_id: Some(id.clone()),
        method: "api-token".to_string(),
        credentials: DbtCredentials {
            instance_url: form.get("instanceUrl").trim().to_string(),
            account_id: form.get("accountId").trim().to_string(),
            api_token: form.get("apiToken").trim().to_string(),
        },
        allowed_permission_sets: None,
    };
    match app.create_connection(dash.ctx(), input).await {
        Ok(c) => {
            let text = format!("Connection {} created.", c.name);
            Ok(html_response(
                StatusCode::OK,
                render(&app, &dash, &id, Some(("ok", text))).await?,
            ))
        }
        Err(e) => failed(&app, &dash, &id, e).await,
    }
}

pub async fn act(
    State(app): State<AppState>,
    dash: Dash,
    Path((id, conn, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    let form = dash.form(&app, &headers, &body)?;
    let ctx = dash.ctx();
    let outcome = match action.as_str() {
        "check" => app.list_dbt_projects(ctx, &conn).await.map(|p| {
            format!(
                "dbt Cloud answered: the connection works ({} dbt projects).",
                p.len()
            )
        }),
        "edit" => {
            let current = match app.get_connection(ctx, &conn).await {
                Ok(c) => c,
                Err(e) => return failed(&app, &dash, &id, e).await,
            };
            let token = form.get("apiToken").trim();
            let change = ConnectionChange {
                name: Some(form.get("name").trim().to_string()),
                description: Some(
                    Some(form.get("description").trim().to_string()).filter(|d| !d.is_empty()),
                ),
                credentials: (!token.is_empty()).then(|| DbtCredentials {
                    instance_url: current.instance_url.clone(),
                    account_id: current.account_id.clone(),
                    api_token: token.to_string(),
                }),
                ..Default::default()
            };
            app.update_connection(ctx, &conn, change)
                .await
                .map(|c| format!("Connection {} saved.", c.name))
        }
        _ => Err(Error::not_found("No such action")),
    };
    match outcome {
        Ok(text) => Ok(html_response(
            StatusCode::OK,
            render(&app, &dash, &id, Some(("ok", text))).await?,
        )),
        Err(e) => failed(&app, &dash, &id, e).await,
    }
}
