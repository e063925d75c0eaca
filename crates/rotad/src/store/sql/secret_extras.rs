//! Secret tags and secret imports.

use async_trait::async_trait;

use super::{conflict, publish, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{SecretImportRow, SecretImportStore, StoreResult, TagRow, TagStore};

const TAG_COLS: &str = "id, project_id, slug, name, color, created_at, updated_at";
const IMPORT_COLS: &str =
    "id, project_id, folder_id, import_env_id, import_path, position, created_at, updated_at";

#[async_trait]
impl<DB> TagStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn create_tag(&self, tag: &TagRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO secret_tags ({TAG_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(tag.id.clone())
        .bind(tag.project_id.clone())
        .bind(tag.slug.clone())
        .bind(tag.name.clone())
        .bind(tag.color.clone())
        .bind(tag.created_at)
        .bind(tag.updated_at)
        .execute(&self.write)
        .await
        .map_err(conflict("tag"))?;
        publish::<DB>(self, &[scope::tags(&tag.project_id)]).await;
        Ok(())
    }

    async fn list_tags(&self, project_id: &str) -> StoreResult<Vec<TagRow>> {
        Ok(sqlx::query_as::<DB, TagRow>(&format!(
            "SELECT {TAG_COLS} FROM secret_tags WHERE project_id = $1 ORDER BY slug"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn update_tag(&self, tag: &TagRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE secret_tags SET slug = $3, name = $4, color = $5, updated_at = $6 \
             WHERE id = $1 AND project_id = $2",
        )
        .bind(tag.id.clone())
        .bind(tag.project_id.clone())
        .bind(tag.slug.clone())
        .bind(tag.name.clone())
        .bind(tag.color.clone())
        .bind(tag.updated_at)
        .execute(&self.write)
        .await
        .map_err(conflict("tag"))?;
        publish::<DB>(self, &[scope::tags(&tag.project_id)]).await;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn delete_tag(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM secret_tags WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id)
            .execute(&self.write)
            .await?;
        publish::<DB>(self, &[scope::tags(project_id)]).await;
        Ok(DB::rows_affected(&done) == 1)
    }
}

#[async_trait]
impl<DB> SecretImportStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn create_secret_import(&self, import: &SecretImportRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO secret_imports ({IMPORT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(import.id.clone())
        .bind(import.project_id.clone())
        .bind(import.folder_id.clone())
        .bind(import.import_env_id.clone())
        .bind(import.import_path.clone())
        .bind(import.position)
        .bind(import.created_at)
        .bind(import.updated_at)
        .execute(&self.write)
        .await
        .map_err(conflict("secret import"))?;
        publish::<DB>(self, &[scope::secrets(&import.project_id)]).await;
        Ok(())
    }

    async fn list_secret_imports(&self, folder_id: &str) -> StoreResult<Vec<SecretImportRow>> {
        Ok(sqlx::query_as::<DB, SecretImportRow>(&format!(
            "SELECT {IMPORT_COLS} FROM secret_imports WHERE folder_id = $1 ORDER BY position, id"
        ))
        .bind(folder_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn get_secret_import(&self, id: &str) -> StoreResult<Option<SecretImportRow>> {
        Ok(sqlx::query_as::<DB, SecretImportRow>(&format!(
            "SELECT {IMPORT_COLS} FROM secret_imports WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn update_secret_import(
        &self,
        import: &SecretImportRow,
        position: Option<i64>,
    ) -> StoreResult<bool> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        // The folder's imports, held until the commit, so that concurrent moves number them
        // one after the other.
        let mut order = sqlx::query_scalar::<DB, String>(&format!(
            "SELECT id FROM secret_imports WHERE folder_id = $1 ORDER BY position, id{}",
            DB::LOCK_ROWS
        ))
        .bind(import.folder_id.clone())
        .fetch_all(&mut *tx)
        .await?;
        let Some(at) = order.iter().position(|id| *id == import.id) else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE secret_imports SET import_env_id = $1, import_path = $2, updated_at = $3 \
             WHERE id = $4 AND folder_id = $5",
        )
        .bind(import.import_env_id.clone())
        .bind(import.import_path.clone())
        .bind(import.updated_at)
        .bind(import.id.clone())
        .bind(import.folder_id.clone())
        .execute(&mut *tx)
        .await
        .map_err(conflict("secret import"))?;
        if let Some(position) = position {
            let moved = order.remove(at);
            let place = usize::try_from(position.saturating_sub(1))
                .unwrap_or(0)
                .min(order.len());
            order.insert(place, moved);
            for (number, id) in (1_i64..).zip(order) {
                sqlx::query(
                    "UPDATE secret_imports SET position = $1 WHERE id = $2 AND position <> $1",
                )
                .bind(number)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        publish::<DB>(self, &[scope::secrets(&import.project_id)]).await;
        Ok(true)
    }

    async fn delete_secret_import(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM secret_imports WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id)
            .execute(&self.write)
            .await?;
        publish::<DB>(self, &[scope::secrets(project_id)]).await;
        Ok(DB::rows_affected(&done) == 1)
    }
}
