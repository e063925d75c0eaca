//! Environments and folder edits. Every write names the project's scopes (its locations, and
//! the secrets and rotation views that render an environment slug or a folder path), so no
//! cache serves a renamed or deleted place (docs/ARCHITECTURE.md, "Caches").

use async_trait::async_trait;

use super::projects::{insert_folder, ENV_COLS};
use super::{announce, conflict, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{
    Environment, EnvironmentContents, EnvironmentStore, Folder, FolderUpdate, StoreResult,
};

fn project_scopes(project_id: &str) -> Vec<String> {
    vec![scope::project(project_id), scope::secrets(project_id)]
}

#[async_trait]
impl<DB> EnvironmentStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn create_environment(&self, env: &Environment, root: &Folder) -> StoreResult<()> {
        let scopes = project_scopes(&env.project_id);
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(
            "UPDATE environments SET position = position + 1 \
             WHERE project_id = $1 AND position >= $2",
        )
        .bind(&env.project_id)
        .bind(env.position)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO environments ({ENV_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&env.id)
        .bind(&env.project_id)
        .bind(&env.name)
        .bind(&env.slug)
        .bind(env.position)
        .bind(env.created_at)
        .bind(env.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict("environment slug"))?;
        insert_folder(root).execute(&mut *tx).await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(())
    }

    async fn update_environment(&self, env: &Environment) -> StoreResult<bool> {
        // Reads the old position in the transaction, so concurrent moves stay consistent.
        let scopes = project_scopes(&env.project_id);
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let old = sqlx::query_scalar::<DB, i64>(
            "SELECT position FROM environments WHERE id = $1 AND project_id = $2",
        )
        .bind(&env.id)
        .bind(&env.project_id)
        .fetch_optional(&mut *tx)
        .await?;
        // The others between the old and the new position move by one toward the old one.
        if let Some(old) = old.filter(|old| *old != env.position) {
            let (shift, low, high) = if env.position < old {
                (1, env.position, old - 1)
            } else {
                (-1, old + 1, env.position)
            };
            sqlx::query(
                "UPDATE environments SET position = position + $1 \
                 WHERE project_id = $2 AND id <> $3 AND position BETWEEN $4 AND $5",
            )
            .bind(shift)
            .bind(&env.project_id)
            .bind(&env.id)
            .bind(low)
            .bind(high)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query(
            "UPDATE environments SET name = $1, slug = $2, position = $3, updated_at = $4 \
             WHERE id = $5 AND project_id = $6",
        )
        .bind(&env.name)
        .bind(&env.slug)
        .bind(env.position)
        .bind(env.updated_at)
        .bind(&env.id)
        .bind(&env.project_id)
        .execute(&mut *tx)
        .await
        .map_err(conflict("environment slug"))?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn delete_environment(&self, project_id: &str, id: &str) -> StoreResult<bool> {
        let scopes = project_scopes(project_id);
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        // Only while empty, judged in the statement that deletes (the root folder cascades).
        let done = sqlx::query(
            "DELETE FROM environments WHERE id = $1 AND project_id = $2 \
             AND NOT EXISTS (SELECT 1 FROM secrets WHERE env_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM secret_rotations WHERE env_id = $1) \
             AND NOT EXISTS (SELECT 1 FROM folders WHERE env_id = $1 AND parent_id IS NOT NULL)",
        )
        .bind(id)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn environment_contents(&self, env_id: &str) -> StoreResult<EnvironmentContents> {
        let count = |sql: &'static str| {
            sqlx::query_scalar::<DB, i64>(sql)
                .bind(env_id)
                .fetch_one(&self.read)
        };
        Ok(EnvironmentContents {
            secrets: count("SELECT COUNT(*) FROM secrets WHERE env_id = $1").await?,
            folders: count(
                "SELECT COUNT(*) FROM folders WHERE env_id = $1 AND parent_id IS NOT NULL",
            )
            .await?,
            rotations: count("SELECT COUNT(*) FROM secret_rotations WHERE env_id = $1").await?,
        })
    }

    async fn update_folders(&self, project_id: &str, updates: &[FolderUpdate]) -> StoreResult<()> {
        let scopes = project_scopes(project_id);
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        for u in updates {
            sqlx::query(
                "UPDATE folders SET name = $1, path = $2, description = $3, updated_at = $4 \
                 WHERE id = $5 AND project_id = $6",
            )
            .bind(&u.name)
            .bind(&u.new_path)
            .bind(&u.description)
            .bind(u.updated_at)
            .bind(&u.id)
            .bind(project_id)
            .execute(&mut *tx)
            .await
            .map_err(conflict("folder"))?;
            if u.new_path != u.old_path {
                let prefix = format!("{}/", u.old_path);
                sqlx::query(
                    "UPDATE folders SET path = $1 || substr(path, length($2) + 1) \
                     WHERE env_id = $3 AND substr(path, 1, length($4)) = $4",
                )
                .bind(&u.new_path)
                .bind(&u.old_path)
                .bind(&u.env_id)
                .bind(&prefix)
                .execute(&mut *tx)
                .await
                .map_err(conflict("folder"))?;
            }
        }
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(())
    }
}
