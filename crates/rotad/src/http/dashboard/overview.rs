//! The overview: the projects the caller can see, and per project its rotations' health, with
//! failing rotations first. The table refreshes itself (`/projects/{id}/live`).

use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::html::{attr, esc, page, time};
use super::{html_response, Dash, DashError};
use crate::services::authz::{Action, Subject};
use crate::services::rotations::RotationView;
use crate::services::{AppState, Ctx};
use crate::time::now_ms;

/// Rotations per page of the table.
pub const PAGE_SIZE: usize = 100;

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<String>,
}

impl PageQuery {
    fn number(&self) -> usize {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }
}

/// What a rotation's status reads as: `rotating` while an executor holds it.
pub fn status_of(view: &RotationView, now: i64) -> &'static str {
    let row = &view.row;
    if row.lease_owner.is_some() && row.lease_expires_at.is_some_and(|t| t > now) {
        "rotating"
    } else if row.rotation_status == "failed" {
        "failed"
    } else if row.rotation_status == "success" {
        "success"
    } else {
        "pending"
    }
}

/// A status as words and a symbol, so it reads without colour.
pub fn status_badge(status: &str) -> String {
    let text = match status {
        "failed" => "✖ Failed",
        "rotating" => "⟳ Rotating",
        "success" => "✔ Success",
        _ => "… Pending",
    };
    format!("<span class=\"status status-{status}\">{text}</span>")
}

/// The secret names a rotation publishes to.
pub fn mapped_secrets(view: &RotationView) -> String {
    match &view.secrets_mapping {
        serde_json::Value::Object(map) => map
            .values()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// A project's section: counts, a page of the table, and the pager.
pub async fn section(
    app: &AppState,
    ctx: &Ctx,
    project_id: &str,
    page_no: usize,
) -> Result<String, DashError> {
    let now = now_ms();
    let health = app
        .rotation_health(ctx, project_id, page_no, PAGE_SIZE, now)
        .await?;
    let (failing, due, pages, page_no) = (health.failing, health.due, health.pages, health.page);
    let mut out = String::with_capacity(256 * health.rows.len() + 1024);
    let _ = write!(
        out,
        "<dl class=\"counts\"><div><dt>Total</dt><dd data-count=\"total\">{}</dd></div>\
         <div class=\"{}\"><dt>Failing</dt><dd data-count=\"failing\">{failing}</dd></div>\
         <div><dt>Due in 24 h</dt><dd data-count=\"due\">{due}</dd></div></dl>",
        health.total,
        if failing > 0 { "bad" } else { "" }
    );
    if health.total == 0 {
        out.push_str("<p>No rotations in this project yet.</p>");
        return Ok(out);
    }
    out.push_str(
        "<table class=\"rotations\"><caption class=\"visually-hidden\">Rotations, failing \
         first</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Environment \
         and path</th><th scope=\"col\">Secret</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Last rotated</th><th scope=\"col\">Next rotation</th>\
         <th scope=\"col\">Auto-rotation</th></tr></thead><tbody>",
    );
    for v in &health.rows {
        let status = status_of(v, now);
        let row = &v.row;
        let message = if status == "failed" {
            v.last_message
                .as_deref()
                .map(|m| format!("<div class=\"message\">{}</div>", esc(m)))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr class=\"row-{status}\" data-rotation=\"{}\"><th scope=\"row\">\
             <a href=\"/rotations/{}\">{}</a></th><td>{} <code>{}</code></td>\
             <td><code>{}</code></td><td>{}{message}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            attr(&row.id),
            attr(&row.id),
            esc(&row.name),
            esc(&v.environment.slug),
            esc(&v.folder_path),
            esc(&mapped_secrets(v)),
            super::overview::status_badge(status),
            time(Some(row.last_rotated_at), now, "never"),
            if row.is_auto_rotation_enabled {
                time(row.next_rotation_at, now, "not scheduled")
            } else {
                "— (auto-rotation off)".to_string()
            },
            if row.is_auto_rotation_enabled {
                "On"
            } else {
                "Off"
            },
        );
    }
    out.push_str("</tbody></table>");
    if pages > 1 {
        out.push_str("<nav class=\"pager\" aria-label=\"Pages\"><ul>");
        for p in 1..=pages {
            if p == page_no {
                let _ = write!(out, "<li><span aria-current=\"page\">{p}</span></li>");
            } else {
                let _ = write!(
                    out,
                    "<li><a href=\"/projects/{}?page={p}\">{p}</a></li>",
                    attr(project_id)
                );
            }
        }
        out.push_str("</ul></nav>");
    }
    Ok(out)
}

fn project_links(app_can_create: bool, project_id: &str) -> String {
    let id = attr(project_id);
    let mut out = format!(
        "<p class=\"links\"><a href=\"/projects/{id}\">All rotations</a> · \
         <a href=\"/projects/{id}/connections\">Connections</a> · \
         <a href=\"/projects/{id}/webhooks\">Webhooks</a> · \
         <a href=\"/audit?project={id}\">Audit log</a>"
    );
    if app_can_create {
        let _ = write!(
            out,
            " · <a class=\"button\" href=\"/projects/{id}/rotations/new\">New rotation</a>"
        );
    }
    out.push_str("</p>");
    out
}

async fn project_block(
    app: &AppState,
    ctx: &Ctx,
    project_id: &str,
    name: &str,
    page_no: usize,
    heading: bool,
) -> Result<String, DashError> {
    let can_create = app
        .authorize_only(ctx, project_id, Subject::SecretRotation, Action::Create)
        .await
        .is_ok();
    let body = section(app, ctx, project_id, page_no).await?;
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"project\" aria-labelledby=\"p-{0}\">",
        attr(project_id)
    );
    if heading {
        let _ = write!(
            out,
            "<h2 id=\"p-{}\"><a href=\"/projects/{}\">{}</a></h2>",
            attr(project_id),
            attr(project_id),
            esc(name)
        );
    } else {
        let _ = write!(
            out,
            "<span id=\"p-{}\" hidden>{}</span>",
            attr(project_id),
            esc(name)
        );
    }
    out.push_str(&project_links(can_create, project_id));
    let _ = write!(
        out,
        "<div class=\"live\" data-live=\"/projects/{}/live?page={page_no}\" aria-live=\"polite\">{body}</div></section>",
        attr(project_id)
    );
    Ok(out)
}

/// `/`: every project the caller can see.
pub async fn index(State(app): State<AppState>, dash: Dash) -> Result<Response, DashError> {
    let ctx = dash.ctx();
    let projects = app.list_projects(ctx).await?;
    let mut body = String::new();
    if projects.is_empty() {
        body.push_str("<p>No project is visible to this identity.</p>");
    }
    for p in &projects {
        body.push_str(&project_block(&app, ctx, &p.project.id, &p.project.name, 1, true).await?);
    }
    Ok(html_response(
        StatusCode::OK,
        page("Rotations", Some(&dash.session), &body),
    ))
}

/// `/projects/{id}`: one project's rotations, paged.
pub async fn project(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, DashError> {
    let ctx = dash.ctx();
    let project = app.get_project(ctx, &id).await?;
    let body = project_block(
        &app,
        ctx,
        &project.project.id,
        &project.project.name,
        q.number(),
        false,
    )
    .await?;
    Ok(html_response(
        StatusCode::OK,
        page(&project.project.name, Some(&dash.session), &body),
    ))
}

/// The live part of a project's section, for the page's script to swap in.
pub async fn live(
    State(app): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, DashError> {
    let body = section(&app, dash.ctx(), &id, q.number()).await?;
    Ok(html_response(StatusCode::OK, body))
}
