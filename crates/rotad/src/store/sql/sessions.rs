//! The dashboard's sessions and one-time sign-in links (docs/SECURITY.md, "Dashboard
//! sessions"): one table, the same SQL on both backends.

use async_trait::async_trait;

use super::{conflict, Dialect, SqlStore};
use crate::store::{DashboardSession, SessionStore, StoreResult, LINK_KIND, SESSION_KIND};

const COLS: &str =
    "id_hash, kind, identity_id, org_id, sealed_token, owns_token, expires_at, created_at";

#[async_trait]
impl<DB> SessionStore for SqlStore<DB>
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
    for<'r> DashboardSession: sqlx::FromRow<'r, DB::Row>,
{
    async fn create_dashboard_session(&self, s: &DashboardSession) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO dashboard_sessions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&s.id_hash)
        .bind(&s.kind)
        .bind(&s.identity_id)
        .bind(&s.org_id)
        .bind(&s.sealed_token)
        .bind(s.owns_token)
        .bind(s.expires_at)
        .bind(s.created_at)
        .execute(&self.write)
        .await
        .map_err(conflict("dashboard session exists"))?;
        Ok(())
    }

    async fn get_dashboard_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DashboardSession>> {
        Ok(sqlx::query_as::<DB, DashboardSession>(&format!(
            "SELECT {COLS} FROM dashboard_sessions WHERE id_hash = $1 AND kind = $2 \
             AND expires_at > $3"
        ))
        .bind(id_hash)
        .bind(SESSION_KIND)
        .bind(now)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn take_dashboard_link(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DashboardSession>> {
        let taken = sqlx::query_as::<DB, DashboardSession>(&format!(
            "DELETE FROM dashboard_sessions WHERE id_hash = $1 AND kind = $2 RETURNING {COLS}"
        ))
        .bind(id_hash)
        .bind(LINK_KIND)
        .fetch_optional(&self.write)
        .await?;
        Ok(taken.filter(|link| link.expires_at > now))
    }

    async fn delete_dashboard_session(&self, id_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.write)
            .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn purge_dashboard_sessions(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(DB::rows_affected(&done))
    }
}
