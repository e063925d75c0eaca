//! The append-only audit log: every mutating call and every secret read.

use serde_json::{json, Value};

use super::{new_id, App, Ctx, RequestMeta};
use crate::error::Result;
use crate::store::{AuditFilter, AuditRow, Identity};
use crate::time::now_ms;

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
        self.audit_read_row(self.audit_row(ctx, project_id, event))
            .await;
    }

    /// Records an event by the platform itself, on its own.
    pub async fn audit_platform(&self, org_id: &str, project_id: Option<&str>, event: Event) {
        self.write_audit(platform_audit_row(org_id, project_id, event))
            .await;
    }

    /// The audit entry of an event by the caller.
    pub(crate) fn audit_row(&self, ctx: &Ctx, project_id: Option<&str>, event: Event) -> AuditRow {
        let actor = String::from_utf8_lossy(&ctx.actor.audit_actor).into_owned();
        audit_row(&ctx.actor.org_id, project_id, actor, &ctx.meta, event)
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
        self.write_audit(audit_row(&identity.org_id, None, actor, meta, event))
            .await;
    }

    async fn write_audit(&self, row: AuditRow) {
        if let Err(e) = self.store.insert_audit(&row).await {
            tracing::error!(error = %e, event = %row.event_type, "could not write audit log entry");
        }
    }

    /// Reads the audit log: the whole organization for org admins, or one project for its
    /// admins.
    pub async fn list_audit_logs(
        &self,
        ctx: &Ctx,
        mut filter: AuditFilter,
    ) -> Result<Vec<AuditRow>> {
        use super::authz::{Action, Subject};
        match filter.project_id.clone() {
            Some(project_id) if !ctx.actor.is_org_admin() => {
                self.authorize(ctx, &project_id, Subject::AuditLogs, Action::Read)
                    .await?;
            }
            _ => self.authorize_org(ctx, Subject::AuditLogs, Action::Read)?,
        }
        filter.org_id = ctx.actor.org_id.clone();
        // Read events still in this replica's buffer are written first, so the log shows
        // every read this replica answered.
        self.flush_read_audit().await;
        Ok(self.store.list_audit(&filter).await?)
    }
}

/// The `actor` of an identity's audit entries.
pub(crate) fn identity_actor(id: &str, name: &str) -> Value {
    json!({"type": "identity", "metadata": {"identityId": id, "name": name}})
}

fn audit_row(
    org_id: &str,
    project_id: Option<&str>,
    actor: String,
    meta: &RequestMeta,
    event: Event,
) -> AuditRow {
    AuditRow {
        id: new_id(),
        org_id: org_id.to_string(),
        project_id: project_id.map(str::to_string),
        event_type: event.kind.to_string(),
        actor,
        metadata: event.metadata.to_string(),
        ip_address: meta.ip_address.clone(),
        user_agent: meta.user_agent.clone(),
        created_at: now_ms(),
    }
}

/// The audit entry of an event by the platform itself (scheduled rotations, recovery).
pub(crate) fn platform_audit_row(org_id: &str, project_id: Option<&str>, event: Event) -> AuditRow {
    let actor = json!({"type": "platform", "metadata": {}});
    audit_row(
        org_id,
        project_id,
        actor.to_string(),
        &RequestMeta::default(),
        event,
    )
}
