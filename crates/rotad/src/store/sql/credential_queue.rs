//! The credential queue (`credential_queue`): the engine's intents to issue a credential
//! (written before dbt is asked for it, so a crash cannot lose what dbt issued) and the tokens
//! waiting to be revoked (docs/ARCHITECTURE.md, "The engine").

use async_trait::async_trait;

use super::{Dialect, SqlStore};
use crate::store::{CredentialQueueStore, IntentRow, RevocationRow, StoreResult};

pub(super) const INTENT_COLS: &str =
    "id, rotation_id, project_id, connection_id, token_name, started_at, credential, created_at, \
     swept_at, target";

const REVOCATION_COLS: &str = "id, rotation_id, connection_id, credential_id, attempts, \
     next_attempt_at, last_error, created_at, target";

#[async_trait]
impl<DB> CredentialQueueStore for SqlStore<DB>
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
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn insert_intent(&self, i: &IntentRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO credential_queue (kind, {INTENT_COLS}) \
             VALUES ('issue', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&i.id)
        .bind(&i.rotation_id)
        .bind(&i.project_id)
        .bind(&i.connection_id)
        .bind(&i.token_name)
        .bind(i.started_at)
        .bind(&i.credential)
        .bind(i.created_at)
        .bind(i.swept_at)
        .bind(&i.target)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn set_intent_credential(&self, id: &str, credential: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE credential_queue SET credential = $2 \
             WHERE id = $1 AND kind = 'issue' AND swept_at IS NULL",
        )
        .bind(id)
        .bind(credential)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn mark_intent_swept(
        &self,
        id: &str,
        now: i64,
        any_credential: bool,
    ) -> StoreResult<bool> {
        let sql = if any_credential {
            "UPDATE credential_queue SET swept_at = COALESCE(swept_at, $2) \
             WHERE id = $1 AND kind = 'issue'"
        } else {
            "UPDATE credential_queue SET swept_at = COALESCE(swept_at, $2) \
             WHERE id = $1 AND kind = 'issue' AND credential IS NULL"
        };
        let done = sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn delete_intent(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM credential_queue WHERE id = $1 AND kind = 'issue'")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn list_intents(&self) -> StoreResult<Vec<IntentRow>> {
        Ok(sqlx::query_as::<DB, IntentRow>(&format!(
            "SELECT {INTENT_COLS} FROM credential_queue WHERE kind = 'issue' ORDER BY created_at"
        ))
        .fetch_all(&self.write)
        .await?)
    }

    async fn enqueue_revocations(&self, rows: &[RevocationRow]) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        for row in rows {
            insert_revocation(row).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn due_revocations(&self, now: i64, limit: i64) -> StoreResult<Vec<RevocationRow>> {
        Ok(sqlx::query_as::<DB, RevocationRow>(&format!(
            "SELECT {REVOCATION_COLS} FROM credential_queue \
             WHERE kind = 'revoke' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.write)
        .await?)
    }

    async fn revocations_of(&self, rotation_id: &str) -> StoreResult<Vec<RevocationRow>> {
        Ok(sqlx::query_as::<DB, RevocationRow>(&format!(
            "SELECT {REVOCATION_COLS} FROM credential_queue \
             WHERE rotation_id = $1 AND kind = 'revoke' ORDER BY created_at"
        ))
        .bind(rotation_id)
        .fetch_all(&self.write)
        .await?)
    }

    async fn delete_revocation(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM credential_queue WHERE id = $1 AND kind = 'revoke'")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn delete_revocations(&self, ids: &[String]) -> StoreResult<()> {
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM credential_queue WHERE kind = 'revoke' AND id IN ({})",
                marks.join(", ")
            );
            let mut query = sqlx::query::<DB>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            query.execute(&self.write).await?;
        }
        Ok(())
    }

    async fn defer_revocation(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE credential_queue SET attempts = attempts + 1, next_attempt_at = $2, \
             last_error = $3 WHERE id = $1 AND kind = 'revoke'",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

pub(super) fn insert_revocation<DB>(
    r: &RevocationRow,
) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO credential_queue (kind, id, rotation_id, connection_id, credential_id, \
         attempts, next_attempt_at, last_error, created_at, target) \
         VALUES ('revoke', $1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.id.clone())
    .bind(r.rotation_id.clone())
    .bind(r.connection_id.clone())
    .bind(r.credential_id.clone())
    .bind(r.attempts)
    .bind(r.next_attempt_at)
    .bind(r.last_error.clone())
    .bind(r.created_at)
    .bind(r.target.clone())
}
