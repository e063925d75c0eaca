//! `GET /api/v1/organization/audit-logs` with upstream's filters.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Query, Validate};
use crate::services::AppState;
use crate::store::{AuditFilter, AuditRow};
use crate::time::{parse, rfc3339};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_logs))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    project_id: Option<String>,
    /// One event type, or several separated by commas.
    event_type: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

impl Validate for AuditQuery {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        for (field, value) in [("startDate", &self.start_date), ("endDate", &self.end_date)] {
            if value.as_deref().is_some_and(|v| parse(v).is_none()) {
                issues.push(Issue::new("invalid_string", &[field], "Invalid datetime"));
            }
        }
        if self.offset.is_some_and(|o| o < 0) {
            issues.push(Issue::new(
                "too_small",
                &["offset"],
                "Number must be greater than or equal to 0",
            ));
        }
        if self.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
            issues.push(Issue::new(
                "too_big",
                &["limit"],
                "Number must be between 1 and 1000",
            ));
        }
        issues
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditActorOut {
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = Object)]
    metadata: Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventOut {
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = Object)]
    metadata: Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogOut {
    id: String,
    actor: AuditActorOut,
    event: AuditEventOut,
    ip_address: String,
    user_agent: String,
    project_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<AuditRow> for AuditLogOut {
    fn from(row: AuditRow) -> Self {
        let actor: Value = serde_json::from_str(&row.actor).unwrap_or(Value::Null);
        Self {
            id: row.id,
            actor: AuditActorOut {
                kind: actor["type"].as_str().unwrap_or("platform").to_string(),
                metadata: actor
                    .get("metadata")
                    .cloned()
                    .unwrap_or(Value::Object(Default::default())),
            },
            event: AuditEventOut {
                kind: row.event_type,
                metadata: serde_json::from_str(&row.metadata)
                    .unwrap_or(Value::Object(Default::default())),
            },
            ip_address: row.ip_address,
            user_agent: row.user_agent,
            project_id: row.project_id,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogsResponse {
    audit_logs: Vec<AuditLogOut>,
}

/// Reads the audit log, newest first.
#[utoipa::path(get, path = "/api/v1/organization/audit-logs", tag = "Audit Logs", params(AuditQuery),
    responses((status = 200, body = AuditLogsResponse)), security(("bearer" = [])))]
async fn list_audit_logs(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditLogsResponse>> {
    let filter = AuditFilter {
        org_id: String::new(),
        project_id: q.project_id.filter(|p| !p.trim().is_empty()),
        event_types: q
            .event_type
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        start: q.start_date.as_deref().and_then(parse),
        end: q.end_date.as_deref().and_then(parse),
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(20),
    };
    let rows = app.list_audit_logs(&ctx, filter).await?;
    Ok(Json(AuditLogsResponse {
        audit_logs: rows.into_iter().map(Into::into).collect(),
    }))
}
