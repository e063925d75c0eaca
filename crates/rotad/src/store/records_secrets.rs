//! Rows of secret tags, secret imports and batched secret writes. Times are Unix milliseconds.

use sqlx::FromRow;

use super::{SecretRow, SecretVersionRow, Trail};

/// A project's secret tag.
#[derive(Debug, Clone, FromRow)]
pub struct TagRow {
    pub id: String,
    pub project_id: String,
    pub slug: String,
    pub name: String,
    pub color: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A folder's import of another folder's secrets (same project).
#[derive(Debug, Clone, FromRow)]
pub struct SecretImportRow {
    pub id: String,
    pub project_id: String,
    pub folder_id: String,
    pub import_env_id: String,
    pub import_path: String,
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Secret writes applied together in one transaction, or not at all.
#[derive(Debug, Clone, Default)]
pub struct SecretBatch {
    pub project_id: String,
    pub inserts: Vec<(SecretRow, SecretVersionRow)>,
    /// The new row, the version it must still be at, and its version record.
    pub updates: Vec<(SecretRow, i64, SecretVersionRow)>,
    /// Ids of secrets to delete (each must still exist).
    pub deletes: Vec<String>,
    pub trail: Trail,
}
