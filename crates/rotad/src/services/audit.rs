//! The append-only audit log: every mutating call and every secret read.

use std::collections::HashMap;

use chrono::{Months, TimeZone, Utc};
use serde_json::{json, Value};

use super::{new_id, App, Ctx, RequestMeta};
use crate::error::{Error, Result};
use crate::store::{AuditFilter, AuditRow, Identity};
use crate::time::now_ms;

/// An audit-log search with upstream's filters (`GET /api/v1/organization/audit-logs`).
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    pub project_id: Option<String>,
    pub event_types: Vec<String>,
    pub environment: Option<String>,
    pub secret_path: Option<String>,
    pub secret_key: Option<String>,
    pub actor_type: Option<String>,
    /// The acting identity's id.
    pub actor: Option<String>,
    pub user_agent_type: Option<String>,
    /// `key=value` pairs the event's metadata must hold.
    pub event_metadata: Vec<(String, String)>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub offset: i64,
    pub limit: i64,
    /// Leaves out read events (types starting `get-`, every event the read buffer holds), so
    /// the search need not write that buffer first.
    pub without_reads: bool,
}

/// An entry as the API shows it: the row and the name of its project (if it still exists).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub row: AuditRow,
    pub project_name: Option<String>,
}

/// Unix ms of the last midnight UTC at or before `now`: where a search without `startDate`
/// begins, as upstream.
pub fn last_midnight_utc(now: i64) -> i64 {
    now - now.rem_euclid(86_400_000)
}

/// The kind of client a user agent names, as upstream classifies it (the store's filter
/// classifies the same way).
pub fn user_agent_type(user_agent: &str) -> &'static str {
    match user_agent {
        "cli" => "cli",
        "k8-operator" => "k8-operator",
        "terraform" => "terraform",
        ua if ua.to_ascii_lowercase().contains("mozilla") => "web",
        ua if ua.contains("InfisicalPythonSDK") => "InfisicalPythonSDK",
        ua if ua.contains("InfisicalNodeSDK") => "InfisicalNodeSDK",
        _ => "other",
    }
}

/// The window of a search: `start..=end`, defaulting to the last midnight UTC and now. Both
/// given: the end may not be before the start, nor more than three months after it.
fn window(start: Option<i64>, end: Option<i64>, now: i64) -> Result<(i64, i64)> {
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err(Error::bad_request("End date cannot be before start date"));
        }
        let latest = Utc
            .timestamp_millis_opt(s)
            .single()
            .and_then(|d| d.checked_add_months(Months::new(3)))
            .map(|d| d.timestamp_millis());
        if latest.is_some_and(|latest| e > latest) {
            return Err(Error::bad_request("Dates must be within 3 months"));
        }
    }
    Ok((
        start.unwrap_or_else(|| last_midnight_utc(now)),
        end.unwrap_or(now),
    ))
}

/// A secret path as audit entries hold it: no trailing slash (but `/` stays `/`).
fn entry_path(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// One event: its type and metadata. Metadata never holds secret values or tokens.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub metadata: Value,
}

impl Event {
    pub fn new(kind: &'static str, metadata: Value) -> Self {
        Self { kind, metadata }
    }
}

impl App {
    /// Records an event by the caller, on its own. A failure to record is logged, never shown
    /// to the caller after the change it describes has been made. A change with a store write
    /// of its own puts [`App::audit_row`] into that write's [`Trail`] instead.
    pub async fn audit(&self, ctx: &Ctx, project_id: Option<&str>, event: Event) {
        self.write_audit(self.audit_row(ctx, project_id, event))
            .await;
    }

    /// Records a read event by the caller, as `ROTAD_AUDIT_READS` says: batched by default,
    /// so that reads never wait for the database's writer.
    pub async fn audit_read(&self, ctx: &Ctx, project_id: Option<&str>, event: Event) {
        // Named when written (most reads of a batch fold into one entry): no id made here.
        let row = caller_audit_row(String::new(), ctx, project_id, event);
        self.audit_read_row(row).await;
    }

    /// Records an event by the platform itself, on its own.
    pub async fn audit_platform(&self, org_id: &str, project_id: Option<&str>, event: Event) {
        self.write_audit(platform_audit_row(org_id, project_id, event))
            .await;
    }

    /// The audit entry of an event by the caller.
    pub(crate) fn audit_row(&self, ctx: &Ctx, project_id: Option<&str>, event: Event) -> AuditRow {
        caller_audit_row(new_id(), ctx, project_id, event)
    }

    pub(super) async fn audit_login(&self, identity: &Identity, meta: &RequestMeta) {
        let event = Event::new(
            "login-identity-universal-auth",
            json!({"identityId": identity.id}),
        );
        self.audit_identity(identity, meta, event).await;
    }

    /// Records an event by `identity` outside an authenticated request (logins).
    pub(super) async fn audit_identity(
        &self,
        identity: &Identity,
        meta: &RequestMeta,
        event: Event,
    ) {
        let actor = identity_actor(&identity.id, &identity.name).to_string();
        self.write_audit(audit_row(
            new_id(),
            &identity.org_id,
            None,
            actor,
            meta,
            event,
        ))
        .await;
    }

    async fn write_audit(&self, row: AuditRow) {
        if let Err(e) = self.store.insert_audit(&row).await {
            tracing::error!(error = %e, event = %row.event_type, "could not write audit log entry");
        }
    }

    /// Reads the audit log, newest first: the whole organization for org admins, or one
    /// project for its admins.
    pub async fn list_audit_logs(&self, ctx: &Ctx, search: AuditSearch) -> Result<Vec<AuditEntry>> {
        use super::authz::{Action, Subject};
        let (start, end) = window(search.start, search.end, now_ms())?;
        match search.project_id.clone() {
            Some(project_id) if !ctx.actor.is_org_admin() => {
                self.authorize(ctx, &project_id, Subject::AuditLogs, Action::Read)
                    .await?;
            }
            _ => self.authorize_org(ctx, Subject::AuditLogs, Action::Read)?,
        }
        let mut metadata = Vec::new();
        if let Some(env) = search.environment {
            metadata.push(("environment".to_string(), env));
        }
        if let Some(path) = search.secret_path {
            metadata.push(("secretPath".to_string(), entry_path(&path)));
        }
        if let Some(key) = search.secret_key {
            metadata.push(("secretKey".to_string(), key));
        }
        metadata.extend(search.event_metadata);
        let filter = AuditFilter {
            org_id: ctx.actor.org_id.clone(),
            project_id: search.project_id,
            event_types: search.event_types,
            actor_type: search.actor_type,
            actor_id: search.actor,
            user_agent_type: search.user_agent_type,
            metadata,
            start: Some(start),
            end: Some(end),
            offset: search.offset,
            limit: search.limit,
            without_reads: search.without_reads,
        };
        // Read events still in this replica's buffer are written first, so the log shows
        // every read this replica answered (`services/read_audit.rs`: all of them are `get-`
        // events).
        if !search.without_reads {
            self.flush_read_audit().await;
        }
        let rows = self.store.list_audit(&filter).await?;
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let project_name = match &row.project_id {
                Some(id) => match names.get(id) {
                    Some(name) => name.clone(),
                    None => {
                        let name = self.store.get_project(id).await?.map(|p| p.name);
                        names.insert(id.clone(), name.clone());
                        name
                    }
                },
                None => None,
            };
            entries.push(AuditEntry { row, project_name });
        }
        Ok(entries)
    }
}

/// The `actor` of an identity's audit entries.
pub(crate) fn identity_actor(id: &str, name: &str) -> Value {
    json!({"type": "identity", "metadata": {"identityId": id, "name": name}})
}

/// The entry of an event by the caller of `ctx`, named `id`.
fn caller_audit_row(id: String, ctx: &Ctx, project_id: Option<&str>, event: Event) -> AuditRow {
    let actor = String::from_utf8_lossy(&ctx.actor.audit_actor).into_owned();
    audit_row(id, &ctx.actor.org_id, project_id, actor, &ctx.meta, event)
}

fn audit_row(
    id: String,
    org_id: &str,
    project_id: Option<&str>,
    actor: String,
    meta: &RequestMeta,
    event: Event,
) -> AuditRow {
    AuditRow {
        id,
        org_id: org_id.to_string(),
        project_id: project_id.map(str::to_string),
        event_type: event.kind.to_string(),
        actor,
        // Straight into bytes (`to_string` goes through `fmt::Display`'s slower writer).
        metadata: serde_json::to_string(&event.metadata).unwrap_or_default(),
        ip_address: meta.ip_address.clone(),
        user_agent: meta.user_agent.clone(),
        created_at: now_ms(),
    }
}

/// The audit entry of an event by the platform itself (scheduled rotations, recovery).
pub(crate) fn platform_audit_row(org_id: &str, project_id: Option<&str>, event: Event) -> AuditRow {
    let actor = json!({"type": "platform", "metadata": {}});
    audit_row(
        new_id(),
        org_id,
        project_id,
        actor.to_string(),
        &RequestMeta::default(),
        event,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_default_to_today_and_are_checked() {
        let day = 86_400_000;
        let now = 20_000 * day + 3_600_000;
        assert_eq!(window(None, None, now).ok(), Some((20_000 * day, now)));
        assert!(window(Some(now), Some(now - 1), now).is_err());
        assert!(window(Some(0), Some(92 * day), now).is_err());
        assert_eq!(
            window(Some(0), Some(89 * day), now).ok(),
            Some((0, 89 * day))
        );
        assert_eq!(last_midnight_utc(day - 1), 0);
    }

    #[test]
    fn user_agents_and_paths() {
        assert_eq!(user_agent_type("cli"), "cli");
        assert_eq!(user_agent_type("Mozilla/5.0 (X11)"), "web");
        assert_eq!(
            user_agent_type("InfisicalPythonSDK/1.0.18"),
            "InfisicalPythonSDK"
        );
        assert_eq!(user_agent_type("reqwest"), "other");
        assert_eq!(entry_path("/app/"), "/app");
        assert_eq!(entry_path("/"), "/");
        assert_eq!(entry_path("app"), "/app");
    }
}
