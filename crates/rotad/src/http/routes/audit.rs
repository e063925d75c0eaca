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
use crate::services::audit::{user_agent_type, AuditEntry, AuditSearch};
use crate::services::AppState;
use crate::time::{parse, rfc3339};

/// Upstream's actor types.
const ACTOR_TYPES: [&str; 7] = [
    "platform",
    "user",
    "service",
    "identity",
    "scimClient",
    "unknownUser",
    "kmipClient",
];
/// Upstream's user-agent types.
const USER_AGENT_TYPES: [&str; 7] = [
    "web",
    "cli",
    "k8-operator",
    "terraform",
    "other",
    "InfisicalPythonSDK",
    "InfisicalNodeSDK",
];

/// `key=value,key=value` of `eventMetadata`; None when a pair is malformed or a key is not
/// letters, digits, `_` and `-`.
fn metadata_pairs(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            let valid = !key.is_empty()
                && key.len() <= 64
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            (valid && !value.is_empty()).then(|| (key.to_string(), value.to_string()))
        })
        .collect()
}

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
    /// The environment slug the events happened in.
    environment: Option<String>,
    /// The folder the events happened in.
    secret_path: Option<String>,
    /// The secret the events concern.
    secret_key: Option<String>,
    /// `platform`, `user`, `service`, `identity`, `scimClient`, `unknownUser`, `kmipClient`.
    actor_type: Option<String>,
    /// The acting identity's id.
    actor: Option<String>,
    /// `web`, `cli`, `k8-operator`, `terraform`, `other`, `InfisicalPythonSDK`,
    /// `InfisicalNodeSDK`.
    user_agent_type: Option<String>,
    /// `key=value` pairs, separated by commas, the event's metadata must hold.
    event_metadata: Option<String>,
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
        for (field, value, allowed) in [
            ("actorType", &self.actor_type, &ACTOR_TYPES),
            ("userAgentType", &self.user_agent_type, &USER_AGENT_TYPES),
        ] {
            if value.as_deref().is_some_and(|v| !allowed.contains(&v)) {
                issues.push(Issue::new(
                    "invalid_enum_value",
                    &[field],
                    format!("Invalid enum value. Expected {}", allowed.join(" | ")),
                ));
            }
        }
        if self
            .event_metadata
            .as_deref()
            .is_some_and(|m| metadata_pairs(m).is_none())
        {
            issues.push(Issue::new(
                "custom",
                &["eventMetadata"],
                "Expected key=value pairs separated by commas; keys are letters, digits, _ and -",
            ));
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
    user_agent_type: String,
    org_id: String,
    project_id: Option<String>,
    project_name: Option<String>,
    /// Entries are kept for good: always null.
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<AuditEntry> for AuditLogOut {
    fn from(AuditEntry { row, project_name }: AuditEntry) -> Self {
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
            user_agent_type: user_agent_type(&row.user_agent).to_string(),
            user_agent: row.user_agent,
            org_id: row.org_id,
            project_id: row.project_id,
            project_name,
            expires_at: None,
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

/// Reads the audit log, newest first; without `startDate`, since the last midnight UTC.
#[utoipa::path(get, path = "/api/v1/organization/audit-logs", tag = "Audit Logs", params(AuditQuery),
    responses((status = 200, body = AuditLogsResponse)), security(("bearer" = [])))]
async fn list_audit_logs(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditLogsResponse>> {
    let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let search = AuditSearch {
        project_id: given(q.project_id),
        event_types: q
            .event_type
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        environment: given(q.environment),
        secret_path: given(q.secret_path),
        secret_key: given(q.secret_key),
        actor_type: given(q.actor_type),
        actor: given(q.actor),
        user_agent_type: given(q.user_agent_type),
        event_metadata: q
            .event_metadata
            .as_deref()
            .and_then(metadata_pairs)
            .unwrap_or_default(),
        start: q.start_date.as_deref().and_then(parse),
        end: q.end_date.as_deref().and_then(parse),
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(20),
        without_reads: false,
    };
    let rows = app.list_audit_logs(&ctx, search).await?;
    Ok(Json(AuditLogsResponse {
        audit_logs: rows.into_iter().map(Into::into).collect(),
    }))
}
