//! A project's webhooks: list, create, test.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::html::{attr, csrf_field, environment_select, esc, notice, page, time};
use super::{html_response, Dash, DashError};
use crate::error::Error;
use crate::services::webhooks::CreateWebhook;
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
    let hooks = app
        .list_webhooks(ctx, &project.project.id, None, None)
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
    if hooks.is_empty() {
        body.push_str("<p>No webhooks yet.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">URL</th><th scope=\"col\">Environment and path</th>\
             <th scope=\"col\">Type</th><th scope=\"col\">Enabled</th><th scope=\"col\">Last delivery</th>\
             <th scope=\"col\">Created</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
        );
        for h in &hooks {
            let last = match (&h.row.last_status, &h.row.last_run_error_message) {
                (Some(s), Some(e)) if s != "success" => format!("✖ {} — {}", esc(s), esc(e)),
                (Some(s), _) => esc(s),
                (None, _) => "never".to_string(),
            };
            let _ = write!(
                body,
                "<tr><th scope=\"row\"><code>{}</code></th><td>{} <code>{}</code></td><td>{}</td><td>{}</td>\
                 <td>{last}</td><td>{}</td><td><form method=\"post\" action=\"/projects/{pid}/webhooks/{}/test\" \
                 data-progress=\"Sending…\">{csrf}<button type=\"submit\">Test</button></form></td></tr>",
                esc(&h.url),
                esc(&h.environment.slug),
                esc(&h.row.secret_path),
                esc(&h.row.webhook_type),
                if h.row.is_disabled { "No" } else { "Yes" },
                time(Some(h.row.created_at), now, ""),
                attr(&h.row.id),
            );
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<h2>New webhook</h2><form method=\"post\" action=\"/projects/{pid}/webhooks\" class=\"card\">{csrf}"
    );
    body.push_str(&environment_select(
        "f-env",
        &project.environments,
        "",
        None,
    ));
    body.push_str(
        "<div class=\"field\"><label for=\"f-path\">Secret path</label><input id=\"f-path\" name=\"secretPath\" value=\"/\"></div>\
         <div class=\"field\"><label for=\"f-url\">URL</label><input id=\"f-url\" name=\"webhookUrl\" type=\"url\" required></div>\
         <div class=\"field\"><label for=\"f-key\">Signing key (optional)</label><input id=\"f-key\" name=\"webhookSecretKey\" type=\"password\" autocomplete=\"off\"></div>\
         <button type=\"submit\">Create webhook</button></form>",
    );
    Ok(page(
        &format!("Webhooks of {}", project.project.name),
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

async fn answer(
    app: &AppState,
    dash: &Dash,
    project: &str,
    outcome: Result<String, Error>,
) -> Result<Response, DashError> {
    match outcome {
        Ok(text) => Ok(html_response(
            StatusCode::OK,
            render(app, dash, project, Some(("ok", text))).await?,
        )),
        Err(e @ (Error::BadRequest(_) | Error::Validation(_) | Error::NotFound(_))) => {
            let (status, message) = super::status_and_message(&e);
            Ok(html_response(
                status,
                render(app, dash, project, Some(("error", message))).await?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    let form = dash.form(&app, &headers, &body)?;
    let key = form.get("webhookSecretKey").trim();
    let input = CreateWebhook {
        project_id: id.clone(),
        environment: form.get("environment").trim().to_string(),
        secret_path: Some(form.get("secretPath").trim().to_string()).filter(|p| !p.is_empty()),
        webhook_url: form.get("webhookUrl").trim().to_string(),
        webhook_secret_key: (!key.is_empty()).then(|| key.to_string()),
        webhook_type: None,
    };
    let outcome = app
        .create_webhook(dash.ctx(), input)
        .await
        .map(|_| "Webhook created.".to_string());
    answer(&app, &dash, &id, outcome).await
}

pub async fn test(
    State(app): State<AppState>,
    dash: Dash,
    Path((id, hook)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    dash.form(&app, &headers, &body)?;
    let outcome = app.test_webhook(dash.ctx(), &hook).await.map(|v| {
        match (
            v.row.last_status.as_deref(),
            v.row.last_run_error_message.as_deref(),
        ) {
            (Some("failed"), Some(e)) => format!("Test event sent; the receiver failed: {e}"),
            (Some(s), _) => format!("Test event sent: {s}."),
            _ => "Test event sent.".to_string(),
        }
    });
    answer(&app, &dash, &id, outcome).await
}
