//! Claiming due rotations and webhook deliveries; the webhooks themselves.
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n<SKIP_LOCKED>) RETURNING …`: on
//! PostgreSQL the inner select skips rows another replica is claiming, on SQLite the single
//! writer makes the statement atomic. What it returns is all the engine reads of a rotation
//! before it mints (`leased_cols`).

use async_trait::async_trait;

use super::credential_queue::INTENT_COLS;
use super::rotations::{leased_cols, LeasedRecord};
use super::{Dialect, SqlStore};
use crate::store::{
    DeliveryRow, IntentRow, LeasedRotation, ScheduleStats, SchedulerStore, StoreResult, WebhookRow,
    WebhookStore,
};

const WEBHOOK_COLS: &str = "id, project_id, env_id, secret_path, url, secret_key, webhook_type, \
     is_disabled, last_status, last_run_error_message, created_at, updated_at";
const DELIVERY_COLS: &str =
    "id, webhook_id, event, payload, attempts, next_attempt_at, last_error, created_at";

#[async_trait]
impl<DB> SchedulerStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn claim_due_rotations(
        &self,
        now: i64,
        owner_prefix: &str,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<LeasedRotation>> {
        // Each claimed row gets an owner of its own (prefix + id): one lease owner per task.
        let sql = format!(
            "UPDATE secret_rotations SET lease_owner = $1 || id, lease_expires_at = $2 \
             WHERE id IN (SELECT id FROM secret_rotations WHERE is_auto_rotation_enabled \
             AND next_rotation_at IS NOT NULL AND next_rotation_at <= $3 \
             AND (lease_owner IS NULL OR lease_expires_at < $3) \
             ORDER BY next_rotation_at LIMIT $4{}) \
             AND (lease_owner IS NULL OR lease_expires_at < $3) \
             RETURNING {}",
            DB::SKIP_LOCKED,
            leased_cols()
        );
        Ok(sqlx::query_as::<DB, LeasedRecord>(&sql)
            .bind(owner_prefix)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.write)
            .await?
            .into_iter()
            .map(LeasedRotation::from)
            .collect())
    }

    async fn intents_of(&self, rotation_id: &str) -> StoreResult<Vec<IntentRow>> {
        Ok(sqlx::query_as::<DB, IntentRow>(&format!(
            "SELECT {INTENT_COLS} FROM credential_queue WHERE rotation_id = $1 AND kind = 'issue' \
             ORDER BY created_at"
        ))
        .bind(rotation_id)
        .fetch_all(&self.write)
        .await?)
    }

    async fn schedule_stats(&self, now: i64) -> StoreResult<ScheduleStats> {
        let (due, oldest_due_at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(next_rotation_at) FROM secret_rotations \
             WHERE is_auto_rotation_enabled AND next_rotation_at IS NOT NULL \
             AND next_rotation_at <= $1",
        )
        .bind(now)
        .fetch_one(&self.read)
        .await?;
        let revocations: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM credential_queue WHERE kind = 'revoke'")
                .fetch_one(&self.read)
                .await?;
        let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
            .fetch_one(&self.read)
            .await?;
        Ok(ScheduleStats {
            due,
            oldest_due_at,
            revocations,
            deliveries,
        })
    }
}

#[async_trait]
impl<DB> WebhookStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn create_webhook(&self, w: &WebhookRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&w.id)
        .bind(&w.project_id)
        .bind(&w.env_id)
        .bind(&w.secret_path)
        .bind(&w.url)
        .bind(&w.secret_key)
        .bind(&w.webhook_type)
        .bind(w.is_disabled)
        .bind(&w.last_status)
        .bind(&w.last_run_error_message)
        .bind(w.created_at)
        .bind(w.updated_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn get_webhook(&self, id: &str) -> StoreResult<Option<WebhookRow>> {
        Ok(sqlx::query_as::<DB, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_webhooks(
        &self,
        project_id: &str,
        env_id: Option<&str>,
    ) -> StoreResult<Vec<WebhookRow>> {
        Ok(sqlx::query_as::<DB, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLS} FROM webhooks WHERE project_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR env_id = $2) ORDER BY created_at, id"
        ))
        .bind(project_id)
        .bind(env_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn set_webhook_disabled(&self, id: &str, disabled: bool, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE webhooks SET is_disabled = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(disabled)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_webhook_result(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhooks SET last_status = $2, last_run_error_message = $3, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(error)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn enqueue_deliveries(&self, rows: &[DeliveryRow]) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        for d in rows {
            super::audit::insert_delivery::<DB>(d)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRow>> {
        let sql = format!(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3{}) AND next_attempt_at <= $2 \
             RETURNING {DELIVERY_COLS}",
            DB::SKIP_LOCKED
        );
        Ok(sqlx::query_as::<DB, DeliveryRow>(&sql)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.write)
            .await?)
    }

    async fn delete_delivery(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn defer_delivery(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
