//! Secret writes in batches (docs/COMPATIBILITY.md, "Secrets beyond get/set"): every item is
//! checked first, then all are written in one transaction. One bad item refuses the whole batch
//! and changes nothing.

use std::collections::{HashMap, HashSet};

use super::{check_key, not_found, seal_secret, secret_event, Scope, Secret, SecretChange};
use crate::error::{Error, Result};
use crate::services::authz::Action;
use crate::services::projects::Location;
use crate::services::{new_id, App, Ctx};
use crate::store::{SecretBatch, SecretRow, StoreError};
use crate::time::now_ms;

/// Items of one batch, at most.
pub const MAX_BATCH_ITEMS: usize = 500;

/// A secret a batch creates. `Debug` redacts the value.
#[derive(Clone, Default)]
pub struct BatchCreate {
    pub key: String,
    pub value: String,
    pub comment: Option<String>,
    pub skip_multiline: bool,
    pub tag_ids: Option<Vec<String>>,
}

impl std::fmt::Debug for BatchCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchCreate")
            .field("key", &self.key)
            .field("value", &format_args!("[redacted]"))
            .field("comment", &self.comment)
            .field("skip_multiline", &self.skip_multiline)
            .field("tag_ids", &self.tag_ids)
            .finish()
    }
}

fn check_count(items: usize) -> Result<()> {
    if items == 0 {
        return Err(Error::invalid(
            &["secrets"],
            "At least one secret is required",
        ));
    }
    if items > MAX_BATCH_ITEMS {
        return Err(Error::invalid(
            &["secrets"],
            format!("A batch holds at most {MAX_BATCH_ITEMS} secrets"),
        ));
    }
    Ok(())
}

/// Each key once per batch.
fn check_distinct<'a>(keys: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(Error::bad_request(format!(
                "Secret '{key}' appears more than once in the batch"
            )));
        }
    }
    Ok(())
}

impl App {
    /// The folder's shared secrets by key.
    async fn folder_secrets(&self, loc: &Location) -> Result<HashMap<String, SecretRow>> {
        Ok(self
            .store
            .list_secrets(std::slice::from_ref(&loc.folder.id))
            .await?
            .into_iter()
            .filter(|r| r.secret_type == "shared" && r.folder_id == loc.folder.id)
            .map(|r| (r.key.clone(), r))
            .collect())
    }

    /// Writes `batch` (its trail already holding one audit entry per item), mapping a lost race
    /// to a 400 that changes nothing.
    async fn commit_batch(&self, ctx: &Ctx, loc: &Location, mut batch: SecretBatch) -> Result<()> {
        let rows: Vec<&SecretRow> = batch
            .inserts
            .iter()
            .map(|(r, _)| r)
            .chain(batch.updates.iter().map(|(r, _, _)| r))
            .collect();
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let mut trail = self.secret_trail(ctx, loc, "batch-secrets", first).await;
        trail.audit = std::mem::take(&mut batch.trail.audit);
        batch.trail = trail;
        match self.store.write_secret_batch(&batch).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(Error::bad_request(
                "Secrets of the batch were changed by another request; nothing was written",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates every secret of `items` in the folder of `scope`, or none.
    pub async fn create_secrets_batch(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        items: Vec<BatchCreate>,
    ) -> Result<Vec<Secret>> {
        check_count(items.len())?;
        let keys = items
            .iter()
            .map(|i| check_key("secretKey", &i.key))
            .collect::<Result<Vec<_>>>()?;
        check_distinct(keys.iter().map(String::as_str))?;
        let loc = self.locate_scope(ctx, scope, Action::Create).await?;
        let existing = self.folder_secrets(&loc).await?;
        if let Some(taken) = keys.iter().find(|k| existing.contains_key(*k)) {
            return Err(Error::bad_request(format!(
                "Secret already exist: '{taken}'"
            )));
        }
        let data_key = self.data_key(&loc.project.id).await?;
        let now = now_ms();
        let mut batch = SecretBatch {
            project_id: loc.project.id.clone(),
            ..SecretBatch::default()
        };
        for (item, key) in items.iter().zip(keys) {
            let mut row = SecretRow {
                id: new_id(),
                project_id: loc.project.id.clone(),
                env_id: loc.environment.id.clone(),
                folder_id: loc.folder.id.clone(),
                key,
                secret_type: "shared".to_string(),
                version: 1,
                value: Vec::new(),
                comment: Vec::new(),
                skip_multiline: item.skip_multiline,
                rotation_id: None,
                created_at: now,
                updated_at: now,
                tag_ids: match &item.tag_ids {
                    Some(ids) => self.tag_ids_json(&loc.project.id, ids).await?,
                    None => String::new(),
                },
            };
            let comment = item.comment.as_deref().unwrap_or("");
            let version = seal_secret(&data_key, &mut row, &item.value, comment);
            batch.trail.audit.push(self.audit_row(
                ctx,
                Some(&loc.project.id),
                secret_event(&loc, "create-secret", &row),
            ));
            batch.inserts.push((row, version));
        }
        self.commit_batch(ctx, &loc, batch.clone()).await?;
        self.opened(&loc, batch.inserts.iter().map(|(r, _)| r))
            .await
    }

    /// Applies every change of `items` (key, change) in the folder of `scope`, or none.
    pub async fn update_secrets_batch(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        items: Vec<(String, SecretChange)>,
    ) -> Result<Vec<Secret>> {
        check_count(items.len())?;
        let keys = items
            .iter()
            .map(|(k, _)| check_key("secretKey", k))
            .collect::<Result<Vec<_>>>()?;
        check_distinct(keys.iter().map(String::as_str))?;
        let loc = self.locate_scope(ctx, scope, Action::Edit).await?;
        let existing = self.folder_secrets(&loc).await?;
        let data_key = self.data_key(&loc.project.id).await?;
        let now = now_ms();
        let mut batch = SecretBatch {
            project_id: loc.project.id.clone(),
            ..SecretBatch::default()
        };
        // Names the folder holds once the batch applies: those no item renames away, plus the
        // new ones.
        let mut names: HashSet<String> = existing.keys().cloned().collect();
        for ((_, change), key) in items.into_iter().zip(keys) {
            let row = existing.get(&key).ok_or_else(|| not_found(&key))?;
            if row.rotation_id.is_some() {
                return Err(Error::bad_request(format!(
                    "Cannot update rotated secret '{key}'"
                )));
            }
            let current = self.open(&data_key, &loc, &loc.folder.path, row)?;
            let mut next = row.clone();
            if let Some(new_key) = change.new_key.as_deref() {
                let new_key = check_key("newSecretName", new_key)?;
                if new_key != row.key {
                    names.remove(&row.key);
                    if !names.insert(new_key.clone()) {
                        return Err(Error::bad_request(format!(
                            "Secret with name '{new_key}' already exists"
                        )));
                    }
                    next.key = new_key;
                }
            }
            next.version = row.version + 1;
            next.updated_at = now;
            if let Some(skip) = change.skip_multiline {
                next.skip_multiline = skip;
            }
            if let Some(ids) = &change.tag_ids {
                next.tag_ids = self.tag_ids_json(&loc.project.id, ids).await?;
            }
            let value = change.value.unwrap_or(current.value);
            let comment = change.comment.unwrap_or(current.comment);
            let version = seal_secret(&data_key, &mut next, &value, &comment);
            batch.trail.audit.push(self.audit_row(
                ctx,
                Some(&loc.project.id),
                secret_event(&loc, "update-secret", &next),
            ));
            batch.updates.push((next, row.version, version));
        }
        self.commit_batch(ctx, &loc, batch.clone()).await?;
        self.opened(&loc, batch.updates.iter().map(|(r, _, _)| r))
            .await
    }

    /// Deletes every secret named by `keys` in the folder of `scope`, or none.
    pub async fn delete_secrets_batch(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        keys: Vec<String>,
    ) -> Result<Vec<Secret>> {
        check_count(keys.len())?;
        let keys = keys
            .iter()
            .map(|k| check_key("secretKey", k))
            .collect::<Result<Vec<_>>>()?;
        check_distinct(keys.iter().map(String::as_str))?;
        let loc = self.locate_scope(ctx, scope, Action::Delete).await?;
        let existing = self.folder_secrets(&loc).await?;
        let mut batch = SecretBatch {
            project_id: loc.project.id.clone(),
            ..SecretBatch::default()
        };
        let mut rows = Vec::with_capacity(keys.len());
        for key in &keys {
            let row = existing.get(key).ok_or_else(|| not_found(key))?;
            if row.rotation_id.is_some() {
                return Err(Error::bad_request(format!(
                    "Cannot delete rotated secret '{key}'"
                )));
            }
            batch.trail.audit.push(self.audit_row(
                ctx,
                Some(&loc.project.id),
                secret_event(&loc, "delete-secret", row),
            ));
            batch.deletes.push(row.id.clone());
            rows.push(row.clone());
        }
        let secrets = self.opened(&loc, rows.iter()).await?;
        let mut trail = self
            .secret_trail(ctx, &loc, "delete-secret", &rows[0])
            .await;
        trail.audit = std::mem::take(&mut batch.trail.audit);
        batch.trail = trail;
        match self.store.write_secret_batch(&batch).await {
            Ok(()) => Ok(secrets),
            Err(StoreError::Conflict(_)) => Err(Error::bad_request(
                "Secrets of the batch were changed by another request; nothing was written",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The rows as the API shows them, with their tags.
    async fn opened<'a>(
        &self,
        loc: &Location,
        rows: impl Iterator<Item = &'a SecretRow>,
    ) -> Result<Vec<Secret>> {
        let data_key = self.data_key(&loc.project.id).await?;
        let mut out = rows
            .map(|row| self.open(&data_key, loc, &loc.folder.path, row))
            .collect::<Result<Vec<_>>>()?;
        self.attach_tags(&loc.project.id, &mut out).await?;
        Ok(out)
    }
}
