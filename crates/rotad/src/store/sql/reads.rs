//! The read path's joined queries: each answers one request's need in one statement.

use async_trait::async_trait;

use super::rotations::ROTATION_COLS;
use super::{Dialect, SqlStore};
use crate::store::{
    ProjectAccessRow, ReadStore, RotationCounts, RotationViewRow, StoreResult, TokenContextRow,
};

const TOKEN_CONTEXT: &str = "SELECT t.id, t.identity_id, t.auth_method, t.ttl, t.max_ttl, \
     t.expires_at, t.revoked, t.created_at, t.last_renewed_at, t.num_uses_limit, t.num_uses, \
     i.org_id AS identity_org_id, i.name AS identity_name, i.org_role AS identity_org_role, \
     i.created_at AS identity_created_at, i.updated_at AS identity_updated_at, \
     ua.trusted_ips AS access_token_trusted_ips \
     FROM access_tokens t JOIN identities i ON i.id = t.identity_id \
     LEFT JOIN universal_auths ua ON ua.identity_id = t.identity_id WHERE t.id = $1";

const PROJECT_ACCESS: &str = "SELECT p.id, p.org_id, p.name, p.slug, p.description, \
     p.created_at, p.updated_at, m.id AS member_id, m.identity_id AS member_identity_id, \
     m.role AS member_role, m.created_at AS member_created_at, \
     m.updated_at AS member_updated_at, m.roles AS member_roles \
     FROM projects p LEFT JOIN memberships m ON m.project_id = p.id AND m.identity_id = $2 \
     WHERE p.id = $1";

/// The rotation's own columns, qualified with `r.`.
fn rotation_columns() -> String {
    ROTATION_COLS
        .split(',')
        .map(|c| format!("r.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rotation_view_select(filter: &str) -> String {
    format!(
        "SELECT {}, e.name AS env_name, e.slug AS env_slug, e.position AS env_position, \
         e.created_at AS env_created_at, e.updated_at AS env_updated_at, \
         f.path AS folder_path, c.name AS connection_name \
         FROM secret_rotations r JOIN environments e ON e.id = r.env_id \
         LEFT JOIN folders f ON f.id = r.folder_id \
         LEFT JOIN app_connections c ON c.id = r.connection_id WHERE {filter}",
        rotation_columns()
    )
}

/// A rotation an executor holds at `$2` (the dashboard's "rotating").
const HELD: &str = "r.lease_owner IS NOT NULL AND r.lease_expires_at IS NOT NULL \
     AND r.lease_expires_at > $2";

/// The counts of `count_rotation_health`; the join keeps them to the rows a list shows.
fn rotation_counts() -> String {
    format!(
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(CASE WHEN r.rotation_status = 'failed' AND NOT ({HELD}) THEN 1 ELSE 0 END), 0) \
         AS failing, \
         COALESCE(SUM(CASE WHEN r.is_auto_rotation_enabled AND r.next_rotation_at IS NOT NULL \
         AND r.next_rotation_at <= $3 THEN 1 ELSE 0 END), 0) AS due \
         FROM secret_rotations r JOIN environments e ON e.id = r.env_id WHERE r.project_id = $1"
    )
}

/// The filter and order of `list_rotation_views_by_health`. The page's ids are chosen in a
/// subquery that reads only the columns it sorts on: sorting the whole project's rows with every
/// column (the sealed credentials among them) read them all for the 100 shown
/// (docs/BENCHMARKS.md, "Dashboard").
fn by_health<DB: Dialect>() -> String {
    let order = format!(
        "CASE WHEN {HELD} THEN 1 WHEN r.rotation_status = 'failed' THEN 0 ELSE 2 END, \
         COALESCE(r.next_rotation_at, {}), r.name{}, r.created_at, r.id",
        i64::MAX,
        DB::BYTE_ORDER
    );
    format!(
        "r.id IN (SELECT r.id FROM secret_rotations r JOIN environments e ON e.id = r.env_id \
         WHERE r.project_id = $1 ORDER BY {order} LIMIT $3 OFFSET $4) ORDER BY {order}"
    )
}

#[async_trait]
impl<DB> ReadStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
{
    async fn get_token_context(&self, token_id: &str) -> StoreResult<Option<TokenContextRow>> {
        Ok(sqlx::query_as::<DB, TokenContextRow>(TOKEN_CONTEXT)
            .bind(token_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn get_project_access(
        &self,
        project_id: &str,
        identity_id: &str,
    ) -> StoreResult<Option<ProjectAccessRow>> {
        Ok(sqlx::query_as::<DB, ProjectAccessRow>(PROJECT_ACCESS)
            .bind(project_id)
            .bind(identity_id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn get_rotation_view(&self, id: &str) -> StoreResult<Option<RotationViewRow>> {
        Ok(
            sqlx::query_as::<DB, RotationViewRow>(&rotation_view_select("r.id = $1"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn list_rotation_views(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<RotationViewRow>> {
        Ok(sqlx::query_as::<DB, RotationViewRow>(&rotation_view_select(
            "r.project_id = $1 ORDER BY r.created_at, r.id LIMIT $2 OFFSET $3",
        ))
        .bind(project_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?)
    }

    async fn count_rotation_health(
        &self,
        project_id: &str,
        now: i64,
        due_by: i64,
    ) -> StoreResult<RotationCounts> {
        Ok(sqlx::query_as::<DB, RotationCounts>(&rotation_counts())
            .bind(project_id)
            .bind(now)
            .bind(due_by)
            .fetch_one(&self.read)
            .await?)
    }

    async fn list_rotation_views_by_health(
        &self,
        project_id: &str,
        now: i64,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<RotationViewRow>> {
        Ok(
            sqlx::query_as::<DB, RotationViewRow>(&rotation_view_select(&by_health::<DB>()))
                .bind(project_id)
                .bind(now)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.read)
                .await?,
        )
    }
}
