use async_trait::async_trait;

use super::{announce, conflict, Dialect, SqlStore};
use crate::store::changes::scope;
use crate::store::{Environment, Folder, Membership, Project, ProjectStore, StoreResult};

const PROJECT_COLS: &str = "id, org_id, name, slug, description, created_at, updated_at";
pub(super) const ENV_COLS: &str = "id, project_id, name, slug, position, created_at, updated_at";
pub(super) const FOLDER_COLS: &str =
    "id, project_id, env_id, parent_id, name, path, description, created_at, updated_at";
const MEMBER_COLS: &str = "id, project_id, identity_id, role, created_at, updated_at, roles";

#[async_trait]
impl<DB> ProjectStore for SqlStore<DB>
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
    async fn create_project(
        &self,
        project: &Project,
        environments: &[Environment],
        root_folders: &[Folder],
        membership: Option<&Membership>,
    ) -> StoreResult<()> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(&format!(
            "INSERT INTO projects ({PROJECT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&project.id)
        .bind(&project.org_id)
        .bind(&project.name)
        .bind(&project.slug)
        .bind(&project.description)
        .bind(project.created_at)
        .bind(project.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(conflict("project slug"))?;
        for env in environments {
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
            .await?;
        }
        for folder in root_folders {
            insert_folder(folder).execute(&mut *tx).await?;
        }
        if let Some(m) = membership {
            insert_membership(m).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>> {
        Ok(sqlx::query_as::<DB, Project>(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_project_by_slug(&self, org_id: &str, slug: &str) -> StoreResult<Option<Project>> {
        Ok(sqlx::query_as::<DB, Project>(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE org_id = $1 AND slug = $2"
        ))
        .bind(org_id)
        .bind(slug)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_projects(&self, org_id: &str) -> StoreResult<Vec<Project>> {
        Ok(sqlx::query_as::<DB, Project>(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn delete_project(&self, id: &str) -> StoreResult<bool> {
        let scopes = [scope::project(id), scope::secrets(id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn list_environments(&self, project_id: &str) -> StoreResult<Vec<Environment>> {
        Ok(sqlx::query_as::<DB, Environment>(&format!(
            "SELECT {ENV_COLS} FROM environments WHERE project_id = $1 ORDER BY position"
        ))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn create_folder(&self, folder: &Folder) -> StoreResult<()> {
        insert_folder(folder)
            .execute(&self.write)
            .await
            .map_err(conflict("folder"))?;
        Ok(())
    }

    async fn get_folder(&self, id: &str) -> StoreResult<Option<Folder>> {
        Ok(sqlx::query_as::<DB, Folder>(&format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn get_folder_by_path(&self, env_id: &str, path: &str) -> StoreResult<Option<Folder>> {
        Ok(sqlx::query_as::<DB, Folder>(&format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE env_id = $1 AND path = $2"
        ))
        .bind(env_id)
        .bind(path)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn list_child_folders(&self, parent_id: &str) -> StoreResult<Vec<Folder>> {
        Ok(sqlx::query_as::<DB, Folder>(&format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = $1 ORDER BY name"
        ))
        .bind(parent_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn list_folder_tree(&self, env_id: &str, path: &str) -> StoreResult<Vec<Folder>> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        Ok(sqlx::query_as::<DB, Folder>(&format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE env_id = $1 \
             AND (path = $2 OR substr(path, 1, length($3)) = $3) ORDER BY path"
        ))
        .bind(env_id)
        .bind(path)
        .bind(prefix)
        .fetch_all(&self.read)
        .await?)
    }

    async fn delete_folder(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let project = sqlx::query_scalar::<DB, String>(
            "DELETE FROM folders WHERE id = $1 RETURNING project_id",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let scopes: Vec<String> = project.iter().map(|p| scope::project(p)).collect();
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(project.is_some())
    }

    async fn upsert_membership(&self, m: &Membership) -> StoreResult<Membership> {
        let scopes = [scope::identity(&m.identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(&format!(
            "INSERT INTO memberships ({MEMBER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (project_id, identity_id) DO UPDATE SET role = $4, updated_at = $6, \
             roles = $7"
        ))
        .bind(&m.id)
        .bind(&m.project_id)
        .bind(&m.identity_id)
        .bind(&m.role)
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(&m.roles)
        .execute(&mut *tx)
        .await?;
        let stored = sqlx::query_as::<DB, Membership>(&format!(
            "SELECT {MEMBER_COLS} FROM memberships WHERE project_id = $1 AND identity_id = $2"
        ))
        .bind(&m.project_id)
        .bind(&m.identity_id)
        .fetch_one(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(stored)
    }

    async fn update_membership(&self, m: &Membership) -> StoreResult<Option<Membership>> {
        // A demotion takes access away: announced like a removal (docs/SECURITY.md).
        let scopes = [scope::identity(&m.identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        sqlx::query(
            "UPDATE memberships SET role = $3, roles = $4, updated_at = $5 \
             WHERE project_id = $1 AND identity_id = $2",
        )
        .bind(&m.project_id)
        .bind(&m.identity_id)
        .bind(&m.role)
        .bind(&m.roles)
        .bind(m.updated_at)
        .execute(&mut *tx)
        .await?;
        let stored = sqlx::query_as::<DB, Membership>(&format!(
            "SELECT {MEMBER_COLS} FROM memberships WHERE project_id = $1 AND identity_id = $2"
        ))
        .bind(&m.project_id)
        .bind(&m.identity_id)
        .fetch_optional(&mut *tx)
        .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(stored)
    }

    async fn get_membership(
        &self,
        project_id: &str,
        identity_id: &str,
    ) -> StoreResult<Option<Membership>> {
        Ok(sqlx::query_as::<DB, Membership>(&format!(
            "SELECT {MEMBER_COLS} FROM memberships WHERE project_id = $1 AND identity_id = $2"
        ))
        .bind(project_id)
        .bind(identity_id)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn delete_membership(&self, project_id: &str, identity_id: &str) -> StoreResult<bool> {
        let scopes = [scope::identity(identity_id)];
        let mut tx = self.write.begin_with(DB::BEGIN).await?;
        let done =
            sqlx::query("DELETE FROM memberships WHERE project_id = $1 AND identity_id = $2")
                .bind(project_id)
                .bind(identity_id)
                .execute(&mut *tx)
                .await?;
        announce::<DB>(&mut tx, &scopes).await?;
        tx.commit().await?;
        self.changed(&scopes);
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn list_memberships_of_identity(
        &self,
        identity_id: &str,
    ) -> StoreResult<Vec<Membership>> {
        Ok(sqlx::query_as::<DB, Membership>(&format!(
            "SELECT {MEMBER_COLS} FROM memberships WHERE identity_id = $1 ORDER BY created_at"
        ))
        .bind(identity_id)
        .fetch_all(&self.read)
        .await?)
    }

    async fn list_memberships_of_project(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<Membership>, i64)> {
        let page = sqlx::query_as::<DB, Membership>(&format!(
            "SELECT {MEMBER_COLS} FROM memberships WHERE project_id = $1 \
             ORDER BY created_at, id LIMIT $2 OFFSET $3"
        ))
        .bind(project_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let total =
            sqlx::query_scalar::<DB, i64>("SELECT COUNT(*) FROM memberships WHERE project_id = $1")
                .bind(project_id)
                .fetch_one(&self.read)
                .await?;
        Ok((page, total))
    }
}

pub(super) fn insert_folder<DB>(folder: &Folder) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO folders (id, project_id, env_id, parent_id, name, path, description, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(folder.id.clone())
    .bind(folder.project_id.clone())
    .bind(folder.env_id.clone())
    .bind(folder.parent_id.clone())
    .bind(folder.name.clone())
    .bind(folder.path.clone())
    .bind(folder.description.clone())
    .bind(folder.created_at)
    .bind(folder.updated_at)
}

fn insert_membership<DB>(m: &Membership) -> sqlx::query::Query<'_, DB, DB::Arguments<'_>>
where
    DB: Dialect,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO memberships (id, project_id, identity_id, role, created_at, updated_at, \
         roles) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(m.id.clone())
    .bind(m.project_id.clone())
    .bind(m.identity_id.clone())
    .bind(m.role.clone())
    .bind(m.created_at)
    .bind(m.updated_at)
    .bind(m.roles.clone())
}
