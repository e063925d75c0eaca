use async_trait::async_trait;

use super::{conflict, publish, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{AppConnectionRow, ConnectionStore, StoreError, StoreResult};

/// The conflict of a delete refused because a rotation uses the connection.
const IN_USE: &str = "app connection in use";
/// The conflict of a create or rename to a name the organization already uses.
const NAME_TAKEN: &str = "app connection name";

const CONNECTION_COLS: &str = "id, org_id, project_id, name, description, app, method, \
     credentials, version, created_at, updated_at, allowed_permission_sets";

#[async_trait]
impl<DB> ConnectionStore for SqlStore<DB>
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
    async fn create_connection(&self, connection: &AppConnectionRow) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO app_connections ({CONNECTION_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&connection.id)
        .bind(&connection.org_id)
        .bind(&connection.project_id)
        .bind(&connection.name)
        .bind(&connection.description)
        .bind(&connection.app)
        .bind(&connection.method)
        .bind(&connection.credentials)
        .bind(connection.version)
        .bind(connection.created_at)
        .bind(connection.updated_at)
        .bind(&connection.allowed_permission_sets)
        .execute(&self.write)
        .await
        .map_err(conflict(NAME_TAKEN))?;
        Ok(())
    }

    async fn get_connection(&self, id: &str) -> StoreResult<Option<AppConnectionRow>> {
        Ok(sqlx::query_as::<DB, AppConnectionRow>(&format!(
            "SELECT {CONNECTION_COLS} FROM app_connections WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_connection_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> StoreResult<Option<AppConnectionRow>> {
        Ok(sqlx::query_as::<DB, AppConnectionRow>(&format!(
            "SELECT {CONNECTION_COLS} FROM app_connections WHERE org_id = $1 AND name = $2"
        ))
        .bind(org_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_connections(
        &self,
        org_id: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<AppConnectionRow>> {
        let rows = match project_id {
            None => {
                sqlx::query_as::<DB, AppConnectionRow>(&format!(
                    "SELECT {CONNECTION_COLS} FROM app_connections \
                     WHERE org_id = $1 AND project_id IS NULL ORDER BY name"
                ))
                .bind(org_id)
                .fetch_all(&self.read)
                .await?
            }
            Some(project_id) => {
                sqlx::query_as::<DB, AppConnectionRow>(&format!(
                    "SELECT {CONNECTION_COLS} FROM app_connections \
                     WHERE org_id = $1 AND project_id = $2 ORDER BY name"
                ))
                .bind(org_id)
                .bind(project_id)
                .fetch_all(&self.read)
                .await?
            }
        };
        Ok(rows)
    }

    async fn update_connection(
        &self,
        connection: &AppConnectionRow,
        expected_version: i64,
    ) -> StoreResult<()> {
        let scopes = [scope::connection(&connection.id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query(
            "UPDATE app_connections SET name = $3, description = $4, credentials = $5, \
             version = $6, updated_at = $7, allowed_permission_sets = $8 \
             WHERE id = $1 AND version = $2",
        )
        .bind(&connection.id)
        .bind(expected_version)
        .bind(&connection.name)
        .bind(&connection.description)
        .bind(&connection.credentials)
        .bind(connection.version)
        .bind(connection.updated_at)
        .bind(&connection.allowed_permission_sets)
        .execute(&mut *tx)
        .await
        .map_err(conflict(NAME_TAKEN))?;
        if DB::rows_affected(&done) != 1 {
            return Err(StoreError::Conflict("app connection changed concurrently"));
        }
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(())
    }

    async fn delete_connection(&self, id: &str) -> StoreResult<bool> {
        let scopes = [scope::connection(id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query("DELETE FROM app_connections WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                // A rotation started using it since the caller checked.
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::Conflict(IN_USE)
                }
                _ => StoreError::Database(e),
            })?;
        tx.commit().await?;
        publish::<DB>(self, &scopes).await;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn connection_in_use(&self, id: &str) -> StoreResult<bool> {
        let count = sqlx::query_scalar::<DB, i64>(
            "SELECT (SELECT COUNT(*) FROM secret_rotations WHERE connection_id = $1) \
             + (SELECT COUNT(*) FROM credential_queue WHERE connection_id = $1)",
        )
        .bind(id)
        .fetch_one(&self.write)
        .await?;
        Ok(count > 0)
    }
}
