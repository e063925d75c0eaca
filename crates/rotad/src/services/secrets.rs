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

/// Which folder a call addresses.
#[derive(Debug, Clone)]
pub struct Scope {
    pub project_id: String,
    pub environment: String,
    pub secret_path: Option<String>,
}

/// A secret in clear text, as the API shows it. `Debug` redacts the value.
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    pub project_id: String,
    pub environment: String,
    pub secret_path: String,
    pub key: String,
    pub value: String,
    pub comment: String,
    pub version: i64,
    pub secret_type: String,
    pub skip_multiline: bool,
    pub rotation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("environment", &self.environment)
            .field("secret_path", &self.secret_path)
            .field("key", &self.key)
            .field("value", &format_args!("[redacted]"))
            .field("comment", &self.comment)
            .field("version", &self.version)
            .field("secret_type", &self.secret_type)
            .field("skip_multiline", &self.skip_multiline)
            .field("rotation_id", &self.rotation_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// A secret to create. `Debug` redacts the value.
#[derive(Clone, Default)]
pub struct NewSecret<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub comment: Option<&'a str>,
    pub skip_multiline: bool,
    pub secret_type: Option<&'a str>,
}

impl std::fmt::Debug for NewSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("key", &self.key)
            .field("value", &format_args!("[redacted]"))
            .field("comment", &self.comment)
            .field("skip_multiline", &self.skip_multiline)
            .field("secret_type", &self.secret_type)
            .finish()
    }
}

/// A change to a secret. `Debug` redacts the new value.
#[derive(Clone, Default)]
pub struct SecretChange {
    pub value: Option<String>,
    pub new_key: Option<String>,
    pub comment: Option<String>,
    pub skip_multiline: Option<bool>,
}

impl std::fmt::Debug for SecretChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretChange")
            .field(
                "value",
                &self.value.as_ref().map(|_| format_args!("[redacted]")),
            )
            .field("new_key", &self.new_key)
            .field("comment", &self.comment)
            .field("skip_multiline", &self.skip_multiline)
            .finish()
    }
}

pub const HIDDEN_VALUE: &str = "<hidden-by-infisical>";

/// Checks a secret name: trimmed, non-empty, no colon or slash.
pub fn check_key(field: &str, key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::invalid(&[field], "Secret name is required"));
    }
    if key.len() > 500 {
        return Err(Error::invalid(
            &[field],
            "Secret name must be at most 500 characters",
        ));
    }
    if key.contains(':') || key.contains('/') {
        return Err(Error::invalid(
            &[field],
            "Secret name cannot contain colon or forward slash.",
        ));
    }
    Ok(key.to_string())
}

fn check_type(secret_type: Option<&str>) -> Result<&'static str> {
    match secret_type.unwrap_or("shared") {
        "shared" => Ok("shared"),
        "personal" => Err(Error::bad_request(
            "Personal secrets are not supported for machine identities",
        )),
        _ => Err(Error::invalid(
            &["type"],
            "Invalid enum value. Expected 'shared' | 'personal'",
        )),
    }
}

impl App {
    pub(crate) async fn data_key(&self, project_id: &str) -> Result<DataKey> {
        self.keys
            .key_for(self.store.as_ref(), &project_scope(project_id))
            .await
    }

    fn open(&self, key: &DataKey, loc: &Location, path: &str, row: &SecretRow) -> Result<Secret> {
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
        };
        let data_key = self.data_key(&loc.project.id).await?;
        let version = seal_secret(&data_key, &mut row, value, comment.unwrap_or(""));
        let trail = self.secret_trail(ctx, &loc, "create-secret", &row).await;
        match self.store.insert_secret(&row, &version, &trail).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Error::bad_request("Secret already exist")),
            Err(e) => return Err(e.into()),
        }
        self.open(&data_key, &loc, &loc.folder.path, &row)
    }

    pub async fn get_secret(
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
        self.open(&data_key, &loc, &loc.folder.path, &next)
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
        let secret = self.open(&data_key, &loc, &loc.folder.path, &row)?;
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

    async fn locate_scope(&self, ctx: &Ctx, scope: &Scope, action: Action) -> Result<Location> {
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
    async fn secret_trail(
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

fn secret_event(loc: &Location, kind: &'static str, row: &SecretRow) -> Event {
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

fn not_found(key: &str) -> Error {
    Error::not_found(format!("Secret with name '{}' not found", key.trim()))
}

#[cfg(test)]
mod redaction_tests {
    use super::{NewSecret, Secret, SecretChange};

    #[test]
    fn debug_redacts_secret_values() {
        let secret = Secret {
            id: "s-1".to_string(),
            project_id: "p-1".to_string(),
            environment: "dev".to_string(),
            secret_path: "/".to_string(),
            key: "DB_PASSWORD".to_string(),
            value: "KnownSecretValue".to_string(),
            comment: String::new(),
            version: 1,
            secret_type: "shared".to_string(),
            skip_multiline: false,
            rotation_id: None,
            created_at: 0,
            updated_at: 0,
        };
        let new = NewSecret {
            key: "DB_PASSWORD",
            value: "KnownSecretValue",
            ..NewSecret::default()
        };
        let change = SecretChange {
            value: Some("KnownSecretValue".to_string()),
            ..SecretChange::default()
        };
        for shown in [
            format!("{secret:?}"),
            format!("{new:?}"),
            format!("{change:?}"),
        ] {
            assert!(!shown.contains("KnownSecret"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        assert!(format!("{secret:?}").contains("DB_PASSWORD"));
    }
}
