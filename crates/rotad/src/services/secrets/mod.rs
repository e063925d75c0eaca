//! Secrets: versioned, sealed with the project's data key, addressed by project, environment,
//! folder path and key. Secrets a rotation owns are read-only here.

use std::sync::Arc;

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::cache::{Entry, Triple};
use super::keyring::project_scope;
use super::projects::Location;
use super::webhooks::secrets_modified;
use super::{new_id, App, Ctx};
use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::store::changes::scope;
use crate::store::{SecretRow, SecretVersionRow, StoreError, Trail};
use crate::time::now_ms;

mod batch;
mod model;
mod reads;

pub use batch::*;
pub use model::*;
pub use reads::*;

impl App {
    pub(crate) async fn data_key(&self, project_id: &str) -> Result<DataKey> {
        self.keys
            .key_for(self.store.as_ref(), &project_scope(project_id))
            .await
    }

    pub(crate) fn open(
        &self,
        key: &DataKey,
        loc: &Location,
        path: &str,
        row: &SecretRow,
    ) -> Result<Secret> {
        Ok(Secret {
            value: key.open_str(&format!("{}:value", row.id), &row.value)?,
            comment: key.open_str(&format!("{}:comment", row.id), &row.comment)?,
            id: row.id.clone(),
            project_id: row.project_id.clone(),
            environment: loc.environment.slug.clone(),
            secret_path: path.to_string(),
            key: row.key.clone(),
            version: row.version,
            secret_type: row.secret_type.clone(),
            skip_multiline: row.skip_multiline,
            rotation_id: row.rotation_id.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            tag_ids: super::tags::parse_tag_ids(&row.tag_ids),
            tags: Vec::new(),
        })
    }

    pub async fn create_secret(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        new: NewSecret<'_>,
    ) -> Result<Secret> {
        let NewSecret {
            key,
            value,
            comment,
            skip_multiline,
            secret_type,
            tag_ids,
        } = new;
        let key = check_key("secretName", key)?;
        let secret_type = check_type(secret_type)?;
        let loc = self.locate_scope(ctx, scope, Action::Create).await?;
        if self
            .store
            .get_secret(&loc.folder.id, &key, secret_type)
            .await?
            .is_some()
        {
            return Err(Error::bad_request("Secret already exist"));
        }
        let now = now_ms();
        let mut row = SecretRow {
            id: new_id(),
            project_id: loc.project.id.clone(),
            env_id: loc.environment.id.clone(),
            folder_id: loc.folder.id.clone(),
            key,
            secret_type: secret_type.to_string(),
            version: 1,
            value: Vec::new(),
            comment: Vec::new(),
            skip_multiline,
            rotation_id: None,
            created_at: now,
            updated_at: now,
            tag_ids: match tag_ids {
                Some(ids) => self.tag_ids_json(&loc.project.id, ids).await?,
                None => String::new(),
            },
        };
        let data_key = self.data_key(&loc.project.id).await?;
        let version = seal_secret(&data_key, &mut row, value, comment.unwrap_or(""));
        let trail = self.secret_trail(ctx, &loc, "create-secret", &row).await;
        match self.store.insert_secret(&row, &version, &trail).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Error::bad_request("Secret already exist")),
            Err(e) => return Err(e.into()),
        }
        let mut secret = self.open(&data_key, &loc, &loc.folder.path, &row)?;
        self.attach_tags(&loc.project.id, std::slice::from_mut(&mut secret))
            .await?;
        Ok(secret)
    }

    pub async fn get_secret(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        key: &str,
        secret_type: Option<&str>,
        version: Option<i64>,
    ) -> Result<Secret> {
        let mut secret = self
            .get_secret_untagged(ctx, scope, key, secret_type, version)
            .await?;
        self.attach_tags(&scope.project_id, std::slice::from_mut(&mut secret))
            .await?;
        Ok(secret)
    }

    async fn get_secret_untagged(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        key: &str,
        secret_type: Option<&str>,
        version: Option<i64>,
    ) -> Result<Secret> {
        let secret_type = check_type(secret_type).map_err(|_| not_found(key))?;
        let loc = self
            .locate_shared(
                ctx,
                &scope.project_id,
                &scope.environment,
                scope.secret_path.as_deref(),
                Subject::Secrets,
                Action::Read,
            )
            .await?;
        let loc = &loc.value;
        let cached = self
            .cached_secret(loc, key.trim(), secret_type)
            .await?
            .ok_or_else(|| not_found(key))?;
        let row = &cached.value;
        // A past version of a rotation's secret is one of its earlier tokens: reading it takes
        // the right to read the rotation's generated credentials (checked before looking the
        // version up, so the answer says nothing about which versions exist).
        if row.rotation_id.is_some() && version.is_some_and(|v| v != row.version) {
            self.authorize(
                ctx,
                &loc.project.id,
                Subject::SecretRotation,
                Action::ReadGeneratedCredentials,
            )
            .await?;
        }
        let data_key = self.data_key(&loc.project.id).await?;
        self.audit_read(
            ctx,
            Some(&loc.project.id),
            secret_event(loc, "get-secret", row),
        )
        .await;
        match version {
            Some(v) if v != row.version => {
                let old = self
                    .store
                    .get_secret_version(&row.id, v)
                    .await?
                    .ok_or_else(|| {
                        Error::not_found(format!(
                            "Secret with name '{key}' and version {v} not found"
                        ))
                    })?;
                let mut secret = self.open(&data_key, loc, &loc.folder.path, row)?;
                secret.value = data_key.open_str(&format!("{}:value", old.id), &old.value)?;
                secret.comment = data_key.open_str(&format!("{}:comment", old.id), &old.comment)?;
                secret.key = old.key;
                secret.version = old.version;
                Ok(secret)
            }
            _ => self.open(&data_key, loc, &loc.folder.path, row),
        }
    }

    /// Secrets of a folder, or of the folder and every folder below it.
    pub async fn list_secrets(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        recursive: bool,
    ) -> Result<Vec<Secret>> {
        let loc = self.locate_scope(ctx, scope, Action::Read).await?;
        let folders = if recursive {
            self.store
                .list_folder_tree(&loc.environment.id, &loc.folder.path)
                .await?
        } else {
            vec![loc.folder.clone()]
        };
        let ids: Vec<String> = folders.iter().map(|f| f.id.clone()).collect();
        let rows = self.store.list_secrets(&ids).await?;
        let data_key = self.data_key(&loc.project.id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let path = folders
                .iter()
                .find(|f| f.id == row.folder_id)
                .map(|f| f.path.clone())
                .unwrap_or_else(|| loc.folder.path.clone());
            out.push(self.open(&data_key, &loc, &path, &row)?);
        }
        self.attach_tags(&loc.project.id, &mut out).await?;
        self.audit_read(
            ctx,
            Some(&loc.project.id),
            Event::new(
                "get-secrets",
                json!({"environment": loc.environment.slug, "secretPath": loc.folder.path, "numberOfSecrets": out.len()}),
            ),
        )
        .await;
        Ok(out)
    }

    pub async fn update_secret(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        key: &str,
        change: SecretChange,
        secret_type: Option<&str>,
    ) -> Result<Secret> {
        let secret_type = check_type(secret_type)?;
        let loc = self.locate_scope(ctx, scope, Action::Edit).await?;
        let row = self
            .store
            .get_secret(&loc.folder.id, key.trim(), secret_type)
            .await?
            .ok_or_else(|| not_found(key))?;
        let new_key = match change.new_key.as_deref() {
            Some(k) => Some(check_key("newSecretName", k)?),
            None => None,
        };
        if row.rotation_id.is_some() {
            if new_key.as_ref().is_some_and(|k| *k != row.key) {
                return Err(Error::bad_request("Cannot update rotated secret name"));
            }
            return Err(Error::bad_request("Cannot update rotated secret"));
        }
        let data_key = self.data_key(&loc.project.id).await?;
        let current = self.open(&data_key, &loc, &loc.folder.path, &row)?;
        let mut next = row.clone();
        if let Some(k) = new_key.filter(|k| *k != row.key) {
            if self
                .store
                .get_secret(&loc.folder.id, &k, secret_type)
                .await?
                .is_some()
            {
                return Err(Error::bad_request(format!(
                    "Secret with name '{k}' already exists"
                )));
            }
            next.key = k;
        }
        next.version = row.version + 1;
        next.updated_at = now_ms();
        if let Some(skip) = change.skip_multiline {
            next.skip_multiline = skip;
        }
        if let Some(ids) = &change.tag_ids {
            next.tag_ids = self.tag_ids_json(&loc.project.id, ids).await?;
        }
        let value = change.value.unwrap_or(current.value);
        let comment = change.comment.unwrap_or(current.comment);
        let version = seal_secret(&data_key, &mut next, &value, &comment);
        let trail = self.secret_trail(ctx, &loc, "update-secret", &next).await;
        match self
            .store
            .update_secret(&next, row.version, &version, &trail)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(
                    "The secret was changed by another request; read it again and retry",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let mut secret = self.open(&data_key, &loc, &loc.folder.path, &next)?;
        self.attach_tags(&loc.project.id, std::slice::from_mut(&mut secret))
            .await?;
        Ok(secret)
    }

    pub async fn delete_secret(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        key: &str,
        secret_type: Option<&str>,
    ) -> Result<Secret> {
        let secret_type = check_type(secret_type)?;
        let loc = self.locate_scope(ctx, scope, Action::Delete).await?;
        let row = self
            .store
            .get_secret(&loc.folder.id, key.trim(), secret_type)
            .await?
            .ok_or_else(|| not_found(key))?;
        if row.rotation_id.is_some() {
            return Err(Error::bad_request("Cannot delete rotated secrets"));
        }
        let data_key = self.data_key(&loc.project.id).await?;
        let mut secret = self.open(&data_key, &loc, &loc.folder.path, &row)?;
        self.attach_tags(&loc.project.id, std::slice::from_mut(&mut secret))
            .await?;
        let trail = self.secret_trail(ctx, &loc, "delete-secret", &row).await;
        if !self.store.delete_secret(&row.id, &trail).await? {
            return Err(not_found(key));
        }
        Ok(secret)
    }

    /// A secret's sealed row, cached (docs/ARCHITECTURE.md, "Caches"): values stay sealed in
    /// memory and are opened at each read.
    pub(crate) async fn cached_secret(
        &self,
        loc: &Location,
        key: &str,
        secret_type: &str,
    ) -> Result<Option<Arc<Entry<SecretRow>>>> {
        let shelf = &self.caches.secrets;
        if let Some(hit) = shelf.get(&Triple(&loc.folder.id, key, secret_type)) {
            return Ok(Some(hit));
        }
        let cache_key = (
            loc.folder.id.clone(),
            key.to_string(),
            secret_type.to_string(),
        );
        let at = shelf.snapshot();
        let Some(row) = self
            .store
            .get_secret(&loc.folder.id, key, secret_type)
            .await?
        else {
            return Ok(None);
        };
        let scopes = vec![scope::secrets(&loc.project.id)];
        let bytes = 256 + row.key.len() + row.value.len() + row.comment.len();
        Ok(Some(shelf.put(cache_key, row, scopes, at, bytes)))
    }

    pub(crate) async fn locate_scope(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        action: Action,
    ) -> Result<Location> {
        self.locate(
            ctx,
            &scope.project_id,
            &scope.environment,
            scope.secret_path.as_deref(),
            Subject::Secrets,
            action,
        )
        .await
    }

    /// The audit entry and `secrets.modified` deliveries of a secret write, for its transaction.
    pub(crate) async fn secret_trail(
        &self,
        ctx: &Ctx,
        loc: &Location,
        kind: &'static str,
        row: &SecretRow,
    ) -> Trail {
        Trail {
            audit: vec![self.audit_row(ctx, Some(&loc.project.id), secret_event(loc, kind, row))],
            deliveries: secrets_modified(
                self.store.as_ref(),
                &loc.project.id,
                &loc.environment.id,
                &loc.folder.id,
            )
            .await,
        }
    }
}

/// Seals value and comment into `row` and builds its version record.
pub(crate) fn seal_secret(
    key: &DataKey,
    row: &mut SecretRow,
    value: &str,
    comment: &str,
) -> SecretVersionRow {
    row.value = seal_secret_value(key, &row.id, value);
    row.comment = key.seal_str(&format!("{}:comment", row.id), comment);
    seal_version(
        key,
        &row.id,
        &row.key,
        row.version,
        value,
        comment,
        row.updated_at,
    )
}

/// A secret's value as its row stores it (`<secret id>:value` as associated data).
pub(crate) fn seal_secret_value(key: &DataKey, secret_id: &str, value: &str) -> Vec<u8> {
    key.seal_str(&format!("{secret_id}:value"), value)
}

/// The version row of a secret at `version`, sealed with the version row's own id.
pub(crate) fn seal_version(
    key: &DataKey,
    secret_id: &str,
    secret_key: &str,
    version: i64,
    value: &str,
    comment: &str,
    created_at: i64,
) -> SecretVersionRow {
    let version_id = new_id();
    SecretVersionRow {
        value: key.seal_str(&format!("{version_id}:value"), value),
        comment: key.seal_str(&format!("{version_id}:comment"), comment),
        id: version_id,
        secret_id: secret_id.to_string(),
        version,
        key: secret_key.to_string(),
        created_at,
    }
}

pub(crate) fn secret_event(loc: &Location, kind: &'static str, row: &SecretRow) -> Event {
    Event::new(
        kind,
        json!({
            "environment": loc.environment.slug,
            "secretPath": loc.folder.path,
            "secretId": row.id,
            "secretKey": row.key,
            "secretVersion": row.version,
        }),
    )
}

pub(crate) fn not_found(key: &str) -> Error {
    Error::not_found(format!("Secret with name '{}' not found", key.trim()))
}
