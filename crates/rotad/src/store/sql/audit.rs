use async_trait::async_trait;

use super::{Dialect, SqlStore};
use crate::store::{AuditFilter, AuditRow, AuditStore, DeliveryRow, StoreResult, Trail};

const AUDIT_COLS: &str =
    "id, org_id, project_id, event_type, actor, metadata, ip_address, user_agent, created_at";

#[async_trait]
impl<DB> AuditStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()> {
        let mut conn = self.write.acquire().await?;
        write_trail::<DB>(
            &mut conn,
            &Trail {
                audit: vec![row.clone()],
                deliveries: Vec::new(),
            },
        )
        .await
    }

    async fn insert_audit_batch(&self, rows: &[AuditRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        insert_audit_rows::<DB>(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditRow>> {
        let (sql, texts) = audit_query::<DB>(f);
        let mut query = sqlx::query_as::<DB, AuditRow>(&sql);
        for text in texts {
            query = query.bind(text);
        }
        Ok(query
            .bind(f.start)
            .bind(f.end)
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.read)
            .await?)
    }
}

/// The kind of client of an entry's `user_agent`, as `services::audit::user_agent_type`
/// tells it (the two must agree; `REPLACE` is a case-sensitive "contains" on both backends).
const USER_AGENT_TYPE: &str = "(CASE \
    WHEN user_agent IN ('cli', 'k8-operator', 'terraform') THEN user_agent \
    WHEN LOWER(user_agent) LIKE '%mozilla%' THEN 'web' \
    WHEN REPLACE(user_agent, 'InfisicalPythonSDK', '') <> user_agent THEN 'InfisicalPythonSDK' \
    WHEN REPLACE(user_agent, 'InfisicalNodeSDK', '') <> user_agent THEN 'InfisicalNodeSDK' \
    ELSE 'other' END)";

/// The statement of an audit search and its text parameters, in order; the start, end, limit
/// and offset follow them. Only the filters given are in the statement.
fn audit_query<DB: Dialect>(f: &AuditFilter) -> (String, Vec<String>) {
    fn param(texts: &mut Vec<String>, value: String) -> String {
        texts.push(value);
        format!("${}", texts.len())
    }
    let mut texts = vec![f.org_id.clone()];
    let mut conditions = vec!["org_id = $1".to_string()];
    if let Some(project) = &f.project_id {
        let p = param(&mut texts, project.clone());
        conditions.push(format!("project_id = {p}"));
    }
    if !f.event_types.is_empty() {
        // Matched against a comma-joined list: one parameter for any number of types.
        let p = param(&mut texts, format!(",{},", f.event_types.join(",")));
        conditions.push(format!("{p} LIKE '%,' || event_type || ',%'"));
    }
    if let Some(kind) = &f.actor_type {
        let p = param(&mut texts, kind.clone());
        conditions.push(format!("{} = {p}", DB::json_text("actor", &["'type'"])));
    }
    if let Some(id) = &f.actor_id {
        let p = param(&mut texts, id.clone());
        conditions.push(format!(
            "({} = {p} OR {} = {p})",
            DB::json_text("actor", &["'metadata'", "'identityId'"]),
            DB::json_text("actor", &["'metadata'", "'userId'"])
        ));
    }
    if let Some(kind) = &f.user_agent_type {
        let p = param(&mut texts, kind.clone());
        conditions.push(format!("{USER_AGENT_TYPE} = {p}"));
    }
    if f.without_reads {
        conditions.push("event_type NOT LIKE 'get-%'".to_string());
    }
    for (key, value) in &f.metadata {
        let v = param(&mut texts, value.clone());
        if key == "rotationId" {
            // A rotation's entries (its dashboard timeline): the indexed expression
            // (`audit_logs_rotation_time`, migration 0018), not a scan of the project's log.
            conditions.push(format!("{} = {v}", DB::ROTATION_ID_OF_METADATA));
        } else {
            let k = param(&mut texts, key.clone());
            conditions.push(format!("{} = {v}", DB::json_text("metadata", &[&k])));
        }
    }
    let n = texts.len();
    let sql = format!(
        "SELECT {AUDIT_COLS} FROM audit_logs WHERE {} \
         AND (${s} IS NULL OR created_at >= ${s}) AND (${e} IS NULL OR created_at <= ${e}) \
         ORDER BY created_at DESC, id DESC LIMIT ${l} OFFSET ${o}",
        conditions.join(" AND "),
        s = n + 1,
        e = n + 2,
        l = n + 3,
        o = n + 4,
    );
    (sql, texts)
}

/// Writes a change's audit entries and webhook deliveries on `conn` (the change's transaction).
pub(super) async fn write_trail<DB>(conn: &mut DB::Connection, trail: &Trail) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    insert_audit_rows::<DB>(conn, &trail.audit).await?;
    for d in &trail.deliveries {
        insert_delivery::<DB>(d).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Audit entries on `conn`, one multi-row `INSERT` per 500 (9 parameters a row stay under both
/// backends' limits): a PATCH lane's group of any size writes its entries in one statement.
async fn insert_audit_rows<DB>(conn: &mut DB::Connection, rows: &[AuditRow]) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for chunk in rows.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=9).map(|c| format!("${}", r * 9 + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO audit_logs ({AUDIT_COLS}) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query::<DB>(&sql);
        for row in chunk {
            query = query
                .bind(&row.id)
                .bind(&row.org_id)
                .bind(&row.project_id)
                .bind(&row.event_type)
                .bind(&row.actor)
                .bind(&row.metadata)
                .bind(&row.ip_address)
                .bind(&row.user_agent)
                .bind(row.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One webhook delivery into the outbox.
pub(super) fn insert_delivery<DB>(d: &DeliveryRow) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query::<DB>(
        "INSERT INTO webhook_deliveries (id, webhook_id, event, payload, attempts, \
         next_attempt_at, last_error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&d.id)
    .bind(&d.webhook_id)
    .bind(&d.event)
    .bind(&d.payload)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .bind(&d.last_error)
    .bind(d.created_at)
}
