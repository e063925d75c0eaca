//! The audit log with filters (project, event, actor, date range) and paging. Reading it takes
//! the API's permission: the organization's log for org admins, a project's for its admins.

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::html::{attr, esc, page, q, time};
use super::{html_response, Dash, DashError};
use crate::services::audit::AuditSearch;
use crate::services::AppState;
use crate::time::now_ms;

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

/// A `YYYY-MM-DD` date as Unix ms at its start (UTC), plus `days`.
fn day(text: &str, days: i64) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?);
    Some(start.timestamp_millis() + days * 86_400_000)
}

pub async fn list(
    State(app): State<AppState>,
    dash: Dash,
    Query(f): Query<AuditQuery>,
) -> Result<Response, DashError> {
    let ctx = dash.ctx();
    let now = now_ms();
    let page_no = f.page.parse::<i64>().ok().filter(|p| *p >= 1).unwrap_or(1);
    let start = day(&f.from, 0).unwrap_or(now - 7 * 86_400_000);
    let end = day(&f.to, 1).map_or(now, |e| e - 1);
    let search = AuditSearch {
        project_id: Some(f.project.trim().to_string()).filter(|p| !p.is_empty()),
        event_types: Some(f.event.trim().to_string())
            .filter(|e| !e.is_empty())
            .into_iter()
            .collect(),
        actor: Some(f.actor.trim().to_string()).filter(|a| !a.is_empty()),
        start: Some(start),
        end: Some(end),
        offset: (page_no - 1) * PAGE,
        limit: PAGE + 1,
        ..Default::default()
    };
    let projects = app.list_projects(ctx).await?;
    let mut body = String::new();
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/audit\" class=\"card filters\"><fieldset><legend>Filters</legend>\
         <div class=\"field\"><label for=\"a-project\">Project</label><select id=\"a-project\" name=\"project\">\
         <option value=\"\">All (organization admins)</option>"
    );
    for p in &projects {
        let _ = write!(
            body,
            "<option value=\"{}\"{}>{}</option>",
            attr(&p.project.id),
            if p.project.id == f.project {
                " selected"
            } else {
                ""
            },
            esc(&p.project.name)
        );
    }
    let _ = write!(
        body,
        "</select></div>\
         <div class=\"field\"><label for=\"a-event\">Event type</label><input id=\"a-event\" name=\"event\" value=\"{}\" placeholder=\"secret-rotation-rotate\"></div>\
         <div class=\"field\"><label for=\"a-actor\">Actor (identity id)</label><input id=\"a-actor\" name=\"actor\" value=\"{}\"></div>\
         <div class=\"field\"><label for=\"a-from\">From (UTC date)</label><input id=\"a-from\" name=\"from\" type=\"date\" value=\"{}\"></div>\
         <div class=\"field\"><label for=\"a-to\">To (UTC date)</label><input id=\"a-to\" name=\"to\" type=\"date\" value=\"{}\"></div>\
         </fieldset><button type=\"submit\">Search</button></form>",
        attr(&f.event),
        attr(&f.actor),
        attr(&f.from),
        attr(&f.to)
    );
    match app.list_audit_logs(ctx, search).await {
        Err(e) => {
            let (status, message) = super::status_and_message(&e);
            body.push_str(&super::html::notice("error", &message));
            return Ok(html_response(
                status,
                page("Audit log", Some(&dash.session), &body),
            ));
        }
        Ok(entries) => {
            let more = entries.len() as i64 > PAGE;
            body.push_str(
                "<table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Event</th>\
                 <th scope=\"col\">Actor</th><th scope=\"col\">Project</th><th scope=\"col\">Details</th>\
                 <th scope=\"col\">Address</th></tr></thead><tbody>",
            );
            for e in entries.iter().take(PAGE as usize) {
                let actor: Value = serde_json::from_str(&e.row.actor).unwrap_or(Value::Null);
                let who = actor["metadata"]["name"]
                    .as_str()
                    .or_else(|| actor["type"].as_str())
                    .unwrap_or("");
                let _ = write!(
                    body,
                    "<tr><td>{}</td><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td><code class=\"meta\">{}</code></td><td>{}</td></tr>",
                    time(Some(e.row.created_at), now, ""),
                    esc(&e.row.event_type),
                    esc(who),
                    esc(e.project_name.as_deref().unwrap_or("")),
                    esc(&e.row.metadata),
                    esc(&e.row.ip_address)
                );
            }
            if entries.is_empty() {
                body.push_str("<tr><td colspan=\"6\">No events match.</td></tr>");
            }
            body.push_str("</tbody></table><nav class=\"pager\" aria-label=\"Pages\"><ul>");
            let link = |p: i64| {
                format!(
                    "/audit?project={}&amp;event={}&amp;actor={}&amp;from={}&amp;to={}&amp;page={p}",
                    q(&f.project), q(&f.event), q(&f.actor), q(&f.from), q(&f.to)
                )
            };
            if page_no > 1 {
                let _ = write!(
                    body,
                    "<li><a href=\"{}\" rel=\"prev\">Newer</a></li>",
                    link(page_no - 1)
                );
            }
            let _ = write!(
                body,
                "<li><span aria-current=\"page\">Page {page_no}</span></li>"
            );
            if more {
                let _ = write!(
                    body,
                    "<li><a href=\"{}\" rel=\"next\">Older</a></li>",
                    link(page_no + 1)
                );
            }
            body.push_str("</ul></nav>");
        }
    }
    Ok(html_response(
        StatusCode::OK,
        page("Audit log", Some(&dash.session), &body),
    ))
}
