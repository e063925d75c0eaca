use async_trait::async_trait;

use super::audit::write_trail;
use super::credential_queue::insert_revocation;
use super::secrets::{insert_secret, insert_version, update_secret};
use super::{conflict, publish, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{
    LeasedRotation, PublishedSecret, RotationCommit, RotationDelete, RotationFailure, RotationRow,
    RotationStore, SecretRow, SecretVersionRow, SecretWrite, StoreError, StoreResult, Trail,
    INTENT_SETTLED, ROTATION_CHANGED,
};

pub(super) const ROTATION_COLS: &str =
    "id, org_id, project_id, env_id, folder_id, connection_id, name, \
     description, rotation_type, parameters, secrets_mapping, credentials, active_index, \
     is_auto_rotation_enabled, rotation_interval, rotate_at_hours, rotate_at_minutes, \
     rotation_status, last_rotation_attempted_at, last_rotated_at, last_rotation_job_id, \
     last_rotation_message, next_rotation_at, is_last_rotation_manual, failed_attempts, \
     lease_owner, lease_expires_at, created_at, updated_at, version";
/// The secret a rotation publishes, as the `FROM` and `WHERE` of a subquery on
/// `secret_rotations`. Found through `secrets_rotation` alone: with the folder in the condition,
/// PostgreSQL (before its statistics are gathered) walks the folder's unique index instead,
/// scanning every secret of the folder for each claimed rotation (docs/BENCHMARKS.md).
/// A rotation publishing several secrets (a login's username and password) reads the first by
/// key here and the others by name.
const PUBLISHED_SECRET: &str =
    "FROM secrets s WHERE s.rotation_id = secret_rotations.id AND s.secret_type = 'shared' \
     ORDER BY s.key LIMIT 1";

/// [`ROTATION_COLS`] and what the engine needs beside them ([`LeasedRotation`]) as scalar
/// subqueries on `secret_rotations`: the same text serves after `SELECT` and after `RETURNING`,
/// so the statement that takes a lease reads everything one rotation pass needs.
pub(super) fn leased_cols() -> String {
    format!(
        "{ROTATION_COLS}, \
         EXISTS (SELECT 1 FROM credential_queue i WHERE i.rotation_id = secret_rotations.id \
         AND i.kind = 'issue') AS has_intents, \
         (SELECT c.version FROM app_connections c WHERE c.id = secret_rotations.connection_id) \
         AS connection_version, \
         EXISTS (SELECT 1 FROM webhooks w WHERE w.project_id = secret_rotations.project_id \
         AND w.env_id = secret_rotations.env_id AND NOT w.is_disabled) AS has_webhooks, \
         (SELECT s.id {PUBLISHED_SECRET}) AS secret_id, \
         (SELECT s.key {PUBLISHED_SECRET}) AS secret_key, \
         (SELECT s.version {PUBLISHED_SECRET}) AS secret_version, \
         (SELECT s.comment {PUBLISHED_SECRET}) AS secret_comment"
    )
}

/// A row of [`leased_cols`].
#[derive(sqlx::FromRow)]
pub(super) struct LeasedRecord {
    #[sqlx(flatten)]
    row: RotationRow,
    has_intents: bool,
    connection_version: Option<i64>,
    has_webhooks: bool,
    secret_id: Option<String>,
    secret_key: Option<String>,
    secret_version: Option<i64>,
    secret_comment: Option<Vec<u8>>,
}

impl From<LeasedRecord> for LeasedRotation {
    fn from(r: LeasedRecord) -> Self {
        let secret = match (
            r.secret_id,
            r.secret_key,
            r.secret_version,
            r.secret_comment,
        ) {
            (Some(id), Some(key), Some(version), Some(comment)) => Some(PublishedSecret {
                id,
                key,
                version,
                comment,
            }),
            _ => None,
        };
        LeasedRotation {
            row: r.row,
            has_intents: r.has_intents,
            connection_version: r.connection_version,
            has_webhooks: r.has_webhooks,
            secret,
        }
    }
}

#[async_trait]
impl<DB> RotationStore for SqlStore<DB>
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
    async fn insert_rotation(
        &self,
        r: &RotationRow,
        secrets: &[(SecretRow, SecretVersionRow)],
        intent_id: &str,
        trail: &Trail,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(&format!(
            "INSERT INTO secret_rotations ({ROTATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
             $25, $26, $27, $28, $29, $30)"
        ))
        .bind(&r.id)
        .bind(&r.org_id)
        .bind(&r.project_id)
        .bind(&r.env_id)
        .bind(&r.folder_id)
        .bind(&r.connection_id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(&r.rotation_type)
        .bind(&r.parameters)
        .bind(&r.secrets_mapping)
        .bind(&r.credentials)
        .bind(r.active_index)
        .bind(r.is_auto_rotation_enabled)
        .bind(r.rotation_interval)
        .bind(r.rotate_at_hours)
        .bind(r.rotate_at_minutes)
        .bind(&r.rotation_status)
        .bind(r.last_rotation_attempted_at)
        .bind(r.last_rotated_at)
        .bind(&r.last_rotation_job_id)
        .bind(&r.last_rotation_message)
        .bind(r.next_rotation_at)
        .bind(r.is_last_rotation_manual)
        .bind(r.failed_attempts)
        .bind(&r.lease_owner)
        .bind(r.lease_expires_at)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.version)
        .execute(&mut *tx)
        .await
        .map_err(conflict("rotation name"))?;
        for (secret, version) in secrets {
            insert_secret(secret)
                .execute(&mut *tx)
                .await
                .map_err(conflict("secret"))?;
            insert_version(version).execute(&mut *tx).await?;
        }
        // The creation's intent must still be unswept: once recovery swept it, the first token
        // is (being) revoked and must never be published (I1).
        let done = sqlx::query(
            "DELETE FROM credential_queue WHERE id = $1 AND kind = 'issue' AND swept_at IS NULL",
        )
        .bind(intent_id)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::Conflict(INTENT_SETTLED));
        }
        write_trail::<DB>(&mut tx, trail).await?;
        let scopes = [scope::rotation(&r.id), scope::secrets(&r.project_id)];
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn get_rotation(&self, id: &str) -> StoreResult<Option<RotationRow>> {
        Ok(sqlx::query_as::<DB, RotationRow>(&format!(
            "SELECT {ROTATION_COLS} FROM secret_rotations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_leased_rotation(&self, id: &str) -> StoreResult<Option<LeasedRotation>> {
        Ok(sqlx::query_as::<DB, LeasedRecord>(&format!(
            "SELECT {} FROM secret_rotations WHERE id = $1",
            leased_cols()
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .map(LeasedRotation::from))
    }

    async fn get_rotation_by_name(
        &self,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<Option<RotationRow>> {
        Ok(sqlx::query_as::<DB, RotationRow>(&format!(
            "SELECT {ROTATION_COLS} FROM secret_rotations WHERE folder_id = $1 AND name = $2"
        ))
        .bind(folder_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_rotations(&self, project_id: &str) -> StoreResult<Vec<RotationRow>> {
        Ok(sqlx::query_as::<DB, RotationRow>(&format!(
            "SELECT {ROTATION_COLS} FROM secret_rotations WHERE project_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn list_rotations_by_connection(
        &self,
        connection_id: &str,
    ) -> StoreResult<Vec<RotationRow>> {
        Ok(sqlx::query_as::<DB, RotationRow>(&format!(
            "SELECT {ROTATION_COLS} FROM secret_rotations WHERE connection_id = $1"
        ))
        .bind(connection_id)
        .fetch_all(&self.write)
        .await?)
    }

    async fn update_rotation_settings(
        &self,
        r: &RotationRow,
        expected_version: i64,
        secret: Option<&SecretWrite>,
        trail: &Trail,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query(
            "UPDATE secret_rotations SET name = $2, description = $3, parameters = $4, \
             secrets_mapping = $5, is_auto_rotation_enabled = $6, rotation_interval = $7, \
             rotate_at_hours = $8, rotate_at_minutes = $9, next_rotation_at = $10, \
             updated_at = $11, version = version + 1 WHERE id = $1 AND version = $12",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(&r.parameters)
        .bind(&r.secrets_mapping)
        .bind(r.is_auto_rotation_enabled)
        .bind(r.rotation_interval)
        .bind(r.rotate_at_hours)
        .bind(r.rotate_at_minutes)
        .bind(r.next_rotation_at)
        .bind(r.updated_at)
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(conflict("rotation name"))?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::Conflict(ROTATION_CHANGED));
        }
        if let Some(w) = secret {
            let done = update_secret(&w.secret, w.expected_version)
                .execute(&mut *tx)
                .await
                .map_err(conflict("secret"))?;
            if DB::rows_affected(&done) != 1 {
                return Err(StoreError::Conflict(crate::store::SECRET_CHANGED));
            }
            insert_version(&w.version).execute(&mut *tx).await?;
        }
        write_trail::<DB>(&mut tx, trail).await?;
        let scopes = [scope::rotation(&r.id), scope::secrets(&r.project_id)];
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn delete_rotation(&self, d: &RotationDelete) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let project = sqlx::query_scalar::<DB, String>(
            "DELETE FROM secret_rotations WHERE id = $1 AND lease_owner = $2 AND version = $3              RETURNING project_id",
        )
        .bind(&d.rotation_id)
        .bind(&d.lease_owner)
        .bind(d.expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(project) = project else {
            return Err(StoreError::Conflict(ROTATION_CHANGED));
        };
        let release = if d.delete_secrets {
            "DELETE FROM secrets WHERE rotation_id = $1"
        } else {
            "UPDATE secrets SET rotation_id = NULL WHERE rotation_id = $1"
        };
        sqlx::query(release)
            .bind(&d.rotation_id)
            .execute(&mut *tx)
            .await?;
        for rev in &d.revocations {
            insert_revocation(rev).execute(&mut *tx).await?;
        }
        write_trail::<DB>(&mut tx, &d.trail).await?;
        let scopes = [scope::rotation(&d.rotation_id), scope::secrets(&project)];
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn acquire_lease(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE secret_rotations SET lease_owner = $2, lease_expires_at = $3 \
             WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at < $4 OR lease_owner = $2)",
        )
        .bind(id)
        .bind(owner)
        .bind(expires_at)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn lease_rotation(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<Option<LeasedRotation>> {
        Ok(sqlx::query_as::<DB, LeasedRecord>(&format!(
            "UPDATE secret_rotations SET lease_owner = $2, lease_expires_at = $3 \
             WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at < $4 OR lease_owner = $2) \
             RETURNING {}",
            leased_cols()
        ))
        .bind(id)
        .bind(owner)
        .bind(expires_at)
        .bind(now)
        .fetch_optional(&self.write)
        .await?
        .map(LeasedRotation::from))
    }

    async fn renew_lease(&self, id: &str, owner: &str, expires_at: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE secret_rotations SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE secret_rotations SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn commit_rotation(&self, c: &RotationCommit) -> StoreResult<RotationRow> {
        // The last write of an attempt hands the lease back in the same statement.
        let release = if c.release_lease {
            "lease_owner = NULL, lease_expires_at = NULL, "
        } else {
            ""
        };
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let committed = sqlx::query_as::<DB, RotationRow>(&format!(
            "UPDATE secret_rotations SET credentials = $3, active_index = $4, \
             rotation_status = 'success', last_rotation_attempted_at = $5, last_rotated_at = $5, \
             last_rotation_message = NULL, next_rotation_at = $6, is_last_rotation_manual = $7, \
             last_rotation_job_id = COALESCE($8, last_rotation_job_id), failed_attempts = 0, \
             {release}updated_at = $5, version = version + 1 \
             WHERE id = $1 AND lease_owner = $2 AND version = $9 \
             RETURNING {ROTATION_COLS}"
        ))
        .bind(&c.rotation_id)
        .bind(&c.lease_owner)
        .bind(&c.credentials)
        .bind(c.active_index)
        .bind(c.rotated_at)
        .bind(c.next_rotation_at)
        .bind(c.is_manual)
        .bind(&c.job_id)
        .bind(c.expected_version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::Conflict(ROTATION_CHANGED))?;
        for secret in &c.secrets {
            let done = sqlx::query(
                "UPDATE secrets SET value = $3, version = $4, updated_at = $5 \
                 WHERE id = $1 AND version = $2",
            )
            .bind(&secret.id)
            .bind(secret.expected_version)
            .bind(&secret.value)
            .bind(secret.version.version)
            .bind(secret.updated_at)
            .execute(&mut *tx)
            .await?;
            if DB::rows_affected(&done) != 1 {
                return Err(StoreError::Conflict(crate::store::SECRET_CHANGED));
            }
            insert_version(&secret.version).execute(&mut *tx).await?;
        }
        // The intent's queue entry becomes the displaced credential's revocation (one statement,
        // not a delete and an insert), or goes when nothing was displaced.
        let done = match &c.revocation {
            Some(rev) => {
                debug_assert_eq!(
                    rev.id, c.intent_id,
                    "the revocation takes the intent's entry"
                );
                sqlx::query(
                    "UPDATE credential_queue SET kind = 'revoke', credential_id = $2, \
                     target = $3, attempts = $4, next_attempt_at = $5, last_error = NULL, \
                     created_at = $6, credential = NULL, swept_at = NULL \
                     WHERE id = $1 AND kind = 'issue'",
                )
                .bind(&c.intent_id)
                .bind(&rev.credential_id)
                .bind(&rev.target)
                .bind(rev.attempts)
                .bind(rev.next_attempt_at)
                .bind(rev.created_at)
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query("DELETE FROM credential_queue WHERE id = $1 AND kind = 'issue'")
                    .bind(&c.intent_id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if DB::rows_affected(&done) != 1 {
            // Recovery settled the intent (and queued its credential for revocation).
            return Err(StoreError::Conflict(INTENT_SETTLED));
        }
        write_trail::<DB>(&mut tx, &c.trail).await?;
        let scopes = [
            scope::rotation(&c.rotation_id),
            scope::secrets(&committed.project_id),
        ];
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(committed)
    }

    async fn record_rotation_failure(&self, f: &RotationFailure) -> StoreResult<()> {
        // A non-final attempt only counts; the final one marks the rotation failed.
        // Either way the lease is handed back in the same statement.
        let sql = if f.final_attempt {
            "UPDATE secret_rotations SET rotation_status = 'failed', \
             last_rotation_attempted_at = $3, last_rotation_message = $4, next_rotation_at = $5, \
             failed_attempts = $6, last_rotation_job_id = COALESCE($7, last_rotation_job_id), \
             lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $3, version = version + 1 WHERE id = $1 AND lease_owner = $2"
        } else {
            "UPDATE secret_rotations SET last_rotation_message = $4, next_rotation_at = $5, \
             failed_attempts = $6, last_rotation_job_id = COALESCE($7, last_rotation_job_id), \
             lease_owner = NULL, lease_expires_at = NULL, \
             updated_at = $3, version = version + 1 WHERE id = $1 AND lease_owner = $2"
        };
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query(sql)
            .bind(&f.rotation_id)
            .bind(&f.lease_owner)
            .bind(f.attempted_at)
            .bind(&f.message)
            .bind(f.next_rotation_at)
            .bind(f.failed_attempts)
            .bind(&f.job_id)
            .execute(&mut *tx)
            .await?;
        if DB::rows_affected(&done) != 1 {
            // The lease went to another executor: this attempt's record is not the truth.
            return Err(StoreError::Conflict(ROTATION_CHANGED));
        }
        write_trail::<DB>(&mut tx, &f.trail).await?;
        let scopes = [scope::rotation(&f.rotation_id)];
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }
}
