//! A rotation's page: every field, the two slots, the audit timeline, and the actions (rotate
//! now, auto-rotation on/off, schedule, check credentials, reveal, delete).

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::html::{attr, csrf_field, esc, notice, page, time};
use super::overview::{mapped_secrets, status_badge, status_of};
use super::{html_response, redirect, Dash, DashError};
use crate::error::Error;
use crate::http::extract::{parse_checked, uuid_param};
use crate::http::routes::rotations::{update_from, UpdateRotationIn};
use crate::providers::{Credential, RotationType, TYPES};
use crate::services::audit::AuditSearch;
use crate::services::authz::{Action, Subject};
use crate::services::rotations::{DeleteOptions, GeneratedCredentials, RotationView};
use crate::services::{AppState, Ctx};
use crate::time::now_ms;

/// The rotation and its type, whatever the type.
pub async fn find(
    app: &AppState,
    ctx: &Ctx,
    id: &str,
) -> Result<(&'static RotationType, RotationView), DashError> {
    let id = uuid_param("rotationId", id)
        .map_err(|_| Error::not_found(format!("Could not find a rotation with ID \"{id}\"")))?;
    let mut first = None;
    for kind in TYPES {
        match app.get_rotation(ctx, kind, &id).await {
            Ok(view) => return Ok((kind, view)),
            Err(Error::BadRequest(m)) if m.contains("is not configured for") => {
                first.get_or_insert(Error::BadRequest(m));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(first
        .unwrap_or_else(|| Error::not_found("Rotation not found"))
        .into())
}

#[derive(Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

fn done_text(done: &str) -> Option<&'static str> {
    match done {
        "rotated" => Some("Rotated: a new credential is published."),
        "checked" => Some("The active credential is live."),
        "updated" => Some("Saved."),
        "created" => Some("Rotation created: its first credential is published."),
        _ => None,
    }
}

async fn allowed(app: &AppState, ctx: &Ctx, project: &str, action: Action) -> bool {
    app.authorize_only(ctx, project, Subject::SecretRotation, action)
        .await
        .is_ok()
}

fn slots_html(
    view: &RotationView,
    generated: Option<&GeneratedCredentials>,
    reveal: bool,
) -> String {
    let active = view.row.active_index;
    let mut out = format!(
        "<p>Active slot: <strong data-active-slot=\"{}\">{}</strong> of 2</p>\
         <table class=\"slots\"><thead><tr><th scope=\"col\">Slot</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Value</th></tr></thead><tbody>",
        active + 1,
        active + 1
    );
    for slot in 0..2i64 {
        let state = if slot == active {
            "Active (published)"
        } else {
            "Previous (still live)"
        };
        let cred = generated.and_then(|g| g.credentials.get(slot as usize));
        let (cid, name, value) = match cred {
            Some(Credential::Token(t)) => (
                t.token_id.to_string(),
                t.token_name.clone(),
                t.service_token.clone(),
            ),
            Some(Credential::Login(l)) => {
                (l.username.clone(), l.username.clone(), l.password.clone())
            }
            None => (String::new(), String::new(), String::new()),
        };
        let shown = if cred.is_none() {
            if generated.is_some() {
                "empty".to_string()
            } else {
                "hidden (needs the read-generated-credentials permission)".to_string()
            }
        } else if reveal {
            format!("<code class=\"secret\">{}</code>", esc(&value))
        } else {
            "<span aria-label=\"masked\">••••••••</span>".to_string()
        };
        let _ = write!(
            out,
            "<tr class=\"{}\"><th scope=\"row\">{}</th><td>{state}</td><td><code>{}</code></td>\
             <td><code>{}</code></td><td>{shown}</td></tr>",
            if slot == active { "slot-active" } else { "" },
            slot + 1,
            esc(&cid),
            esc(&name),
        );
    }
    out.push_str("</tbody></table>");
    out
}

async fn timeline(app: &AppState, ctx: &Ctx, view: &RotationView) -> String {
    let now = now_ms();
    let search = AuditSearch {
        project_id: Some(view.row.project_id.clone()),
        event_metadata: vec![("rotationId".to_string(), view.row.id.clone())],
        start: Some(view.row.created_at.max(now - 89 * 86_400_000)),
        end: Some(now),
        offset: 0,
        limit: 50,
        without_reads: true,
        ..Default::default()
    };
    let entries = match app.list_audit_logs(ctx, search).await {
        Ok(entries) => entries,
        Err(Error::Forbidden(_)) => {
            return "<p>The timeline needs permission to read the project's audit log.</p>"
                .to_string()
        }
        Err(e) => return notice("error", &super::status_and_message(&e).1),
    };
    let mut out = String::from("<ol class=\"timeline\">");
    let mut n = 0;
    for e in &entries {
        n += 1;
        let actor: Value = serde_json::from_str(&e.row.actor).unwrap_or(Value::Null);
        let who = actor["metadata"]["name"]
            .as_str()
            .or_else(|| actor["type"].as_str())
            .unwrap_or("unknown");
        let meta: Value = serde_json::from_str(&e.row.metadata).unwrap_or(Value::Null);
        let mut detail = String::new();
        match meta.get("triggeredManually").and_then(Value::as_bool) {
            Some(true) => detail.push_str(" <span class=\"detail\">manual</span>"),
            Some(false) => detail.push_str(" <span class=\"detail\">scheduled</span>"),
            None => {}
        }
        for key in ["status", "message", "error", "reason"] {
            if let Some(v) = meta.get(key).and_then(Value::as_str) {
                let _ = write!(detail, " <span class=\"detail\">{key}: {}</span>", esc(v));
            }
        }
        let _ = write!(
            out,
            "<li>{} <strong>{}</strong> by {}{detail}</li>",
            time(Some(e.row.created_at), now, ""),
            esc(&e.row.event_type),
            esc(who)
        );
    }
    if n == 0 {
        out.push_str("<li>No events yet.</li>");
    }
    out.push_str("</ol>");
    out
}

async fn render(
    app: &AppState,
    dash: &Dash,
    kind: &'static RotationType,
    view: &RotationView,
    reveal: bool,
    message: Option<(&str, &str)>,
) -> Result<String, DashError> {
    let ctx = dash.ctx();
    let row = &view.row;
    let now = now_ms();
    let project = &row.project_id;
    let can_rotate = allowed(app, ctx, project, Action::RotateSecrets).await;
    let can_edit = allowed(app, ctx, project, Action::Edit).await;
    let can_delete = allowed(app, ctx, project, Action::Delete).await;
    let can_read_creds = allowed(app, ctx, project, Action::ReadGeneratedCredentials).await;
    let generated = if can_read_creds {
        Some(app.generated_credentials(ctx, kind, &row.id).await?)
    } else {
        None
    };
    let status = status_of(view, now);
    let csrf = csrf_field(&dash.session);
    let id = attr(&row.id);
    let mut body = String::new();
    if let Some((kind, text)) = message {
        body.push_str(&notice(kind, text));
    }
    let _ = write!(
        body,
        "<p><a href=\"/projects/{}\">← Back to the project's rotations</a></p>\
         <section aria-labelledby=\"h-fields\"><h2 id=\"h-fields\">Details</h2><dl class=\"fields\">\
         <dt>Status</dt><dd data-status=\"{status}\">{}{}</dd>\
         <dt>Type</dt><dd>{}</dd><dt>Environment</dt><dd>{}</dd><dt>Path</dt><dd><code>{}</code></dd>\
         <dt>Mapped secret</dt><dd><code>{}</code></dd><dt>Connection</dt><dd>{}</dd>\
         <dt>Description</dt><dd>{}</dd>\
         <dt>Auto-rotation</dt><dd>{}</dd><dt>Interval</dt><dd>{} ({})</dd>\
         <dt>Time of day (UTC)</dt><dd>{:02}:{:02}</dd>\
         <dt>Last rotated</dt><dd data-last-rotated=\"{}\">{}</dd><dt>Next rotation</dt><dd>{}</dd>\
         <dt>Parameters</dt><dd><code>{}</code></dd><dt>Created</dt><dd>{}</dd></dl></section>",
        attr(project),
        status_badge(status),
        if status == "failed" {
            view.last_message
                .as_deref()
                .map(|m| format!("<div class=\"message\">{}</div>", esc(m)))
                .unwrap_or_default()
        } else {
            String::new()
        },
        esc(kind.name),
        esc(&view.environment.slug),
        esc(&view.folder_path),
        esc(&mapped_secrets(view)),
        esc(&view.connection_name),
        esc(row.description.as_deref().unwrap_or("—")),
        if row.is_auto_rotation_enabled { "On" } else { "Off" },
        row.rotation_interval,
        unit_name(app),
        row.rotate_at_hours,
        row.rotate_at_minutes,
        row.last_rotated_at,
        time(Some(row.last_rotated_at), now, "never"),
        if row.is_auto_rotation_enabled { time(row.next_rotation_at, now, "not scheduled") } else { "— (auto-rotation off)".to_string() },
        esc(&view.parameters.to_string()),
        time(Some(row.created_at), now, ""),
    );
    body.push_str("<section aria-labelledby=\"h-actions\"><h2 id=\"h-actions\">Actions</h2><div class=\"actions\">");
    if can_rotate {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/rotations/{id}/rotate\" data-progress=\"Rotating…\">{csrf}\
             <button type=\"submit\">Rotate now</button></form>"
        );
    }
    if can_read_creds {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/rotations/{id}/check\" data-progress=\"Checking…\">{csrf}\
             <button type=\"submit\">Check credentials</button></form>\
             <form method=\"post\" action=\"/rotations/{id}/reveal\">{csrf}\
             <button type=\"submit\">Reveal values (audited)</button></form>"
        );
    }
    if can_edit && kind.slug == crate::providers::dbt::TYPE.slug {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/rotations/{id}/auto\">{csrf}\
             <input type=\"hidden\" name=\"enabled\" value=\"{}\">\
             <button type=\"submit\">{} auto-rotation</button></form>",
            !row.is_auto_rotation_enabled,
            if row.is_auto_rotation_enabled {
                "Disable"
            } else {
                "Enable"
            }
        );
    }
    body.push_str("</div>");
    if !can_rotate && !can_edit {
        body.push_str("<p>You can view this rotation but not change it.</p>");
    }
    if can_edit && kind.slug == crate::providers::dbt::TYPE.slug {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/rotations/{id}/schedule\" class=\"card\">{csrf}\
             <fieldset><legend>Schedule</legend>\
             <div class=\"field\"><label for=\"f-interval\">Interval ({})</label>\
             <input id=\"f-interval\" name=\"rotationInterval\" type=\"number\" min=\"1\" value=\"{}\" required></div>\
             <div class=\"field\"><label for=\"f-at\">Time of day (UTC)</label>\
             <input id=\"f-at\" name=\"rotateAt\" type=\"time\" value=\"{:02}:{:02}\" required></div>\
             </fieldset><button type=\"submit\">Save schedule</button></form>",
            unit_name(app),
            row.rotation_interval,
            row.rotate_at_hours,
            row.rotate_at_minutes
        );
    }
    if can_delete {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/rotations/{id}/delete\" class=\"card danger\" \
             data-confirm=\"Delete this rotation?\">{csrf}<fieldset><legend>Delete</legend>\
             <div class=\"check\"><input id=\"f-del-secrets\" type=\"checkbox\" name=\"deleteSecrets\" value=\"true\">\
             <label for=\"f-del-secrets\">Also delete the mapped secret (deleteSecrets)</label></div>\
             <div class=\"check\"><input id=\"f-del-revoke\" type=\"checkbox\" name=\"revokeGeneratedCredentials\" value=\"true\">\
             <label for=\"f-del-revoke\">Also revoke both generated credentials (revokeGeneratedCredentials)</label></div>\
             <div class=\"check\"><input id=\"f-del-confirm\" type=\"checkbox\" name=\"confirm\" value=\"yes\" required>\
             <label for=\"f-del-confirm\">Yes, delete rotation “{}”</label></div></fieldset>\
             <button type=\"submit\">Delete rotation</button></form>",
            esc(&row.name)
        );
    }
    body.push_str("</section>");
    let _ = write!(
        body,
        "<section aria-labelledby=\"h-slots\"><h2 id=\"h-slots\">Credentials</h2>{}</section>",
        slots_html(view, generated.as_ref(), reveal)
    );
    let _ = write!(
        body,
        "<section aria-labelledby=\"h-timeline\"><h2 id=\"h-timeline\">Timeline</h2>{}</section>",
        timeline(app, ctx, view).await
    );
    Ok(page(
        &format!("Rotation {}", row.name),
        Some(&dash.session),
        &body,
    ))
}

pub async fn show(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, DashError> {
    let (kind, view) = find(&app, dash.ctx(), &id).await?;
    let message = done_text(&q.done).map(|t| ("ok", t));
    let body = render(&app, &dash, kind, &view, false, message).await?;
    Ok(html_response(StatusCode::OK, body))
}

/// The unit of `rotationInterval` on this server.
pub fn unit_name(app: &AppState) -> &'static str {
    match app.settings.rotation_time_unit {
        crate::config::TimeUnit::Day => "days",
        crate::config::TimeUnit::Minute => "minutes",
        crate::config::TimeUnit::Second => "seconds",
    }
}

/// `HH:MM` as hours and minutes.
fn parse_at(at: &str) -> Option<(u32, u32)> {
    let (h, m) = at.trim().split_once(':')?;
    Some((h.parse().ok()?, m.get(..2).unwrap_or(m).parse().ok()?))
}

pub async fn act(
    State(app): State<AppState>,
    dash: Dash,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    let form = dash.form(&app, &headers, &body)?;
    let ctx = dash.ctx();
    let (kind, view) = find(&app, ctx, &id).await?;
    let id = view.row.id.clone();
    let back = |done: &str| redirect(&format!("/rotations/{id}?done={done}"));
    match action.as_str() {
        "rotate" => {
            app.rotate_now(ctx, kind, &id).await?;
            Ok(back("rotated"))
        }
        "check" => {
            app.check_credentials(ctx, kind, &id).await?;
            Ok(back("checked"))
        }
        "reveal" => {
            let body = render(&app, &dash, kind, &view, true, None).await?;
            Ok(html_response(StatusCode::OK, body))
        }
        "auto" => {
            let enabled = form.get("enabled") == "true";
            let input: UpdateRotationIn = parse_checked(json!({"isAutoRotationEnabled": enabled}))?;
            update_from(&app, ctx, &id, input).await?;
            Ok(back("updated"))
        }
        "schedule" => {
            let interval: Value = form
                .get("rotationInterval")
                .trim()
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(form.get("rotationInterval")));
            let mut change = json!({"rotationInterval": interval});
            if let Some((h, m)) = parse_at(form.get("rotateAt")) {
                change["rotateAtUtc"] = json!({"hours": h, "minutes": m});
            }
            let input: UpdateRotationIn = parse_checked(change)?;
            update_from(&app, ctx, &id, input).await?;
            Ok(back("updated"))
        }
        "delete" => {
            if form.get("confirm") != "yes" {
                return Err(
                    Error::bad_request("Tick the confirmation to delete the rotation").into(),
                );
            }
            let options = DeleteOptions {
                delete_secrets: form.get("deleteSecrets") == "true",
                revoke_generated_credentials: form.get("revokeGeneratedCredentials") == "true",
            };
            app.delete_rotation(ctx, kind, &id, options).await?;
            Ok(redirect(&format!("/projects/{}", view.row.project_id)))
        }
        _ => Err(Error::not_found("No such action").into()),
    }
}
