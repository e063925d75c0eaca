use async_trait::async_trait;

use super::audit::write_trail;
use super::{conflict, publish, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{
    SecretBatch, SecretRow, SecretStore, SecretVersionRow, StoreError, StoreResult, Trail,
};

const SECRET_COLS: &str = "id, project_id, env_id, folder_id, key, secret_type, version, value, \
     comment, skip_multiline, rotation_id, created_at, updated_at, tag_ids";
const VERSION_COLS: &str = "id, secret_id, version, key, value, comment, created_at";

#[async_trait]
impl<DB> SecretStore for SqlStore<DB>
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
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn insert_secret(
        &self,
        secret: &SecretRow,
        version: &SecretVersionRow,
        trail: &Trail,
    ) -> StoreResult<()> {
        let scopes = [scope::secrets(&secret.project_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        insert_secret(secret)
            .execute(&mut *tx)
            .await
            .map_err(conflict("secret"))?;
        insert_version(version).execute(&mut *tx).await?;
        write_trail::<DB>(&mut tx, trail).await?;
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn get_secret(
        &self,
        folder_id: &str,
        key: &str,
        secret_type: &str,
    ) -> StoreResult<Option<SecretRow>> {
        Ok(sqlx::query_as::<DB, SecretRow>(&format!(
            "SELECT {SECRET_COLS} FROM secrets WHERE folder_id = $1 AND key = $2 \
             AND secret_type = $3"
        ))
        .bind(folder_id)
        .bind(key)
        .bind(secret_type)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_secret_by_id(&self, id: &str) -> StoreResult<Option<SecretRow>> {
        Ok(sqlx::query_as::<DB, SecretRow>(&format!(
            "SELECT {SECRET_COLS} FROM secrets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_secrets(&self, folder_ids: &[String]) -> StoreResult<Vec<SecretRow>> {
        // One statement per chunk of folders, not one per folder.
        let mut rows = Vec::new();
        for chunk in folder_ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {SECRET_COLS} FROM secrets WHERE folder_id IN ({}) ORDER BY key",
                marks.join(", ")
            );
            let mut query = sqlx::query_as::<DB, SecretRow>(&sql);
            for folder_id in chunk {
                query = query.bind(folder_id);
            }
            rows.extend(query.fetch_all(&self.read).await?);
        }
        Ok(rows)
    }

    async fn update_secret(
        &self,
        secret: &SecretRow,
        expected_version: i64,
        version: &SecretVersionRow,
        trail: &Trail,
    ) -> StoreResult<()> {
        let scopes = [scope::secrets(&secret.project_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = update_secret(secret, expected_version)
            .execute(&mut *tx)
            .await
            .map_err(conflict("secret"))?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::Conflict(crate::store::SECRET_CHANGED));
        }
        insert_version(version).execute(&mut *tx).await?;
        write_trail::<DB>(&mut tx, trail).await?;
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn delete_secret(&self, id: &str, trail: &Trail) -> StoreResult<bool> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let project = sqlx::query_scalar::<DB, String>(
            "DELETE FROM secrets WHERE id = $1 RETURNING project_id",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(project) = project else {
            return Ok(false);
        };
        let scopes = [scope::secrets(&project)];
        write_trail::<DB>(&mut tx, trail).await?;
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(true)
    }

    async fn get_secret_version(
        &self,
        secret_id: &str,
        version: i64,
    ) -> StoreResult<Option<SecretVersionRow>> {
        Ok(sqlx::query_as::<DB, SecretVersionRow>(&format!(
            "SELECT {VERSION_COLS} FROM secret_versions WHERE secret_id = $1 AND version = $2"
        ))
        .bind(secret_id)
        .bind(version)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn write_secret_batch(&self, batch: &SecretBatch) -> StoreResult<()> {
        let scopes = [scope::secrets(&batch.project_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        for id in &batch.deletes {
            let done = sqlx::query("DELETE FROM secrets WHERE id = $1 AND project_id = $2")
                .bind(id)
                .bind(&batch.project_id)
                .execute(&mut *tx)
                .await?;
            if DB::rows_affected(&done) != 1 {
                return Err(StoreError::Conflict(crate::store::SECRET_CHANGED));
            }
        }
        for (secret, expected, version) in &batch.updates {
            let done = update_secret(secret, *expected)
                .execute(&mut *tx)
                .await
                .map_err(conflict("secret"))?;
            if DB::rows_affected(&done) != 1 {
                return Err(StoreError::Conflict(crate::store::SECRET_CHANGED));
            }
            insert_version(version).execute(&mut *tx).await?;
        }
        for (secret, version) in &batch.inserts {
            insert_secret(secret)
                .execute(&mut *tx)
                .await
                .map_err(conflict("secret"))?;
            insert_version(version).execute(&mut *tx).await?;
        }
        write_trail::<DB>(&mut tx, &batch.trail).await?;
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }
}

pub(super) fn insert_version<DB>(
    v: &SecretVersionRow,
) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO secret_versions (id, secret_id, version, key, value, comment, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(v.id.clone())
    .bind(v.secret_id.clone())
    .bind(v.version)
    .bind(v.key.clone())
    .bind(v.value.clone())
    .bind(v.comment.clone())
    .bind(v.created_at)
}

pub(super) fn insert_secret<DB>(secret: &SecretRow) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO secrets (id, project_id, env_id, folder_id, key, secret_type, version, value, \
         comment, skip_multiline, rotation_id, created_at, updated_at, tag_ids) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(secret.id.clone())
    .bind(secret.project_id.clone())
    .bind(secret.env_id.clone())
    .bind(secret.folder_id.clone())
    .bind(secret.key.clone())
    .bind(secret.secret_type.clone())
    .bind(secret.version)
    .bind(secret.value.clone())
    .bind(secret.comment.clone())
    .bind(secret.skip_multiline)
    .bind(secret.rotation_id.clone())
    .bind(secret.created_at)
    .bind(secret.updated_at)
    .bind(tag_ids(secret))
}

/// The row's tag ids as stored (`[]` when none).
fn tag_ids(secret: &SecretRow) -> String {
    if secret.tag_ids.is_empty() {
        "[]".to_string()
    } else {
        secret.tag_ids.clone()
    }
}

/// Replaces a secret's contents if its version is still `expected_version`.
pub(super) fn update_secret<DB>(
    secret: &SecretRow,
    expected_version: i64,
) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "UPDATE secrets SET key = $3, version = $4, value = $5, comment = $6, \
         skip_multiline = $7, rotation_id = $8, updated_at = $9, tag_ids = $10 \
         WHERE id = $1 AND version = $2",
    )
    .bind(secret.id.clone())
    .bind(expected_version)
    .bind(secret.key.clone())
    .bind(secret.version)
    .bind(secret.value.clone())
    .bind(secret.comment.clone())
    .bind(secret.skip_multiline)
    .bind(secret.rotation_id.clone())
    .bind(secret.updated_at)
    .bind(tag_ids(secret))
}
