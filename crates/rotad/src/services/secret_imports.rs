//! Secret imports (docs/COMPATIBILITY.md, "Secrets beyond get/set"): a folder imports the
//! secrets of another folder of its project, by environment and path. Lists asked with
//! `include_imports=true` answer the imported secrets beside the folder's own; a read by name
//! falls back to them. A folder's imports are cached (docs/ARCHITECTURE.md, "Caches"); the
//! imported secrets are read as the reader, permission checked.

use std::sync::Arc;

use serde_json::json;

use super::audit::Event;
use super::authz::{Action, Subject};
use super::cache::Entry;
use super::projects::{normalize_path, Location};
use super::secrets::{Scope, Secret};
use super::{new_id, App, Ctx};
use crate::error::{Error, Result};
use crate::store::changes::scope;
use crate::store::{Environment, SecretImportRow, StoreError};
use crate::time::now_ms;

/// Imports of one folder, at most.
pub const MAX_FOLDER_IMPORTS: usize = 100;

/// An import with the environment it names.
#[derive(Debug, Clone)]
pub struct SecretImport {
    pub row: SecretImportRow,
    pub environment: Environment,
}

/// The secrets one import brings, as a list answers them.
#[derive(Debug)]
pub struct ImportedSecrets {
    pub environment: String,
    pub secret_path: String,
    pub folder_id: String,
    pub secrets: Vec<Secret>,
}

impl App {
    /// A folder's imports, cached; one statement on a miss.
    async fn folder_imports(&self, loc: &Location) -> Result<Arc<Entry<Vec<SecretImportRow>>>> {
        let shelf = &self.caches.imports;
        if let Some(hit) = shelf.get(loc.folder.id.as_str()) {
            return Ok(hit);
        }
        let at = shelf.snapshot();
        let rows = self.store.list_secret_imports(&loc.folder.id).await?;
        let bytes = 128
            + rows
                .iter()
                .map(|r| 256 + r.import_path.len())
                .sum::<usize>();
        let scopes = vec![
            scope::secrets(&loc.project.id),
            scope::project(&loc.project.id),
        ];
        Ok(shelf.put(loc.folder.id.clone(), rows, scopes, at, bytes))
    }

    /// Imports `import_environment`'s folder `import_path` into the folder of `scope`.
    pub async fn create_secret_import(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        import_environment: &str,
        import_path: &str,
        is_replication: bool,
    ) -> Result<SecretImport> {
        if is_replication {
            return Err(Error::bad_request(
                "Secret replication is not supported: create a plain import (isReplication false)",
            ));
        }
        let import_path = normalize_path(Some(import_path))
            .ok_or_else(|| Error::invalid(&["import", "path"], "Invalid import path"))?;
        let loc = self.locate_imports(ctx, scope, Action::Create).await?;
        let source = self
            .locate_in(loc.project.clone(), import_environment, Some(&import_path))
            .await?;
        if source.folder.id == loc.folder.id {
            return Err(Error::bad_request("A folder cannot import its own secrets"));
        }
        let existing = self.store.list_secret_imports(&loc.folder.id).await?;
        if existing.len() >= MAX_FOLDER_IMPORTS {
            return Err(Error::bad_request(format!(
                "A folder has at most {MAX_FOLDER_IMPORTS} secret imports"
            )));
        }
        let now = now_ms();
        let row = SecretImportRow {
            id: new_id(),
            project_id: loc.project.id.clone(),
            folder_id: loc.folder.id.clone(),
            import_env_id: source.environment.id.clone(),
            import_path: source.folder.path.clone(),
            position: existing.iter().map(|r| r.position).max().unwrap_or(0) + 1,
            created_at: now,
            updated_at: now,
        };
        match self.store.create_secret_import(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(format!(
                    "The folder already imports '{}' of environment '{}'",
                    row.import_path, source.environment.slug
                )))
            }
            Err(e) => return Err(e.into()),
        }
        self.import_event(ctx, "create-secret-import", &loc, &row, &source.environment)
            .await;
        Ok(SecretImport {
            row,
            environment: source.environment,
        })
    }

    /// The imports of the folder of `scope`, by position.
    pub async fn list_secret_imports(&self, ctx: &Ctx, scope: &Scope) -> Result<Vec<SecretImport>> {
        let loc = self.locate_imports(ctx, scope, Action::Read).await?;
        self.with_environments(&loc, &self.folder_imports(&loc).await?.value)
            .await
    }

    /// An import by id, wherever it is (the caller must be allowed to read its project's
    /// imports).
    pub async fn get_secret_import(&self, ctx: &Ctx, id: &str) -> Result<SecretImport> {
        let missing = || Error::not_found(format!("Secret import with ID '{id}' not found"));
        let row = self
            .store
            .get_secret_import(id)
            .await?
            .ok_or_else(missing)?;
        self.authorize_only(ctx, &row.project_id, Subject::SecretImports, Action::Read)
            .await?;
        let environment = self
            .find_environment(&row.project_id, &row.import_env_id)
            .await
            .map_err(|_| missing())?;
        Ok(SecretImport { row, environment })
    }

    /// Changes an import of the folder of `scope`: where it imports from (`import_environment`
    /// and `import_path`, each kept when not given) and, with `position`, its place among the
    /// folder's imports (1 is first, past the end last; the others keep their order).
    pub async fn update_secret_import(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        id: &str,
        import_environment: Option<&str>,
        import_path: Option<&str>,
        position: Option<i64>,
    ) -> Result<SecretImport> {
        if position.is_some_and(|p| p < 1) {
            return Err(Error::invalid(
                &["import", "position"],
                "Position must be 1 or more",
            ));
        }
        let import_path = import_path
            .map(|p| {
                normalize_path(Some(p))
                    .ok_or_else(|| Error::invalid(&["import", "path"], "Invalid import path"))
            })
            .transpose()?;
        let missing = || Error::not_found(format!("Secret import with ID '{id}' not found"));
        let loc = self.locate_imports(ctx, scope, Action::Edit).await?;
        let rows = self.store.list_secret_imports(&loc.folder.id).await?;
        let current = rows.into_iter().find(|r| r.id == id).ok_or_else(missing)?;
        let current_env = self
            .with_environments(&loc, std::slice::from_ref(&current))
            .await?
            .into_iter()
            .next()
            .ok_or_else(missing)?
            .environment;
        let source = self
            .locate_in(
                loc.project.clone(),
                import_environment.unwrap_or(&current_env.slug),
                Some(import_path.as_deref().unwrap_or(&current.import_path)),
            )
            .await?;
        if source.folder.id == loc.folder.id {
            return Err(Error::bad_request("A folder cannot import its own secrets"));
        }
        let mut row = SecretImportRow {
            import_env_id: source.environment.id.clone(),
            import_path: source.folder.path.clone(),
            updated_at: now_ms(),
            ..current
        };
        match self.store.update_secret_import(&row, position).await {
            Ok(true) => {}
            Ok(false) => return Err(missing()),
            Err(StoreError::Conflict(_)) => {
                return Err(Error::bad_request(format!(
                    "The folder already imports '{}' of environment '{}'",
                    row.import_path, source.environment.slug
                )))
            }
            Err(e) => return Err(e.into()),
        }
        // The place it took, as the folder's imports are numbered now.
        if position.is_some() {
            let rows = self.store.list_secret_imports(&loc.folder.id).await?;
            if let Some(moved) = rows.into_iter().find(|r| r.id == id) {
                row.position = moved.position;
            }
        }
        self.import_event(ctx, "update-secret-import", &loc, &row, &source.environment)
            .await;
        Ok(SecretImport {
            row,
            environment: source.environment,
        })
    }

    /// Deletes an import of the folder of `scope`.
    pub async fn delete_secret_import(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        id: &str,
    ) -> Result<SecretImport> {
        let loc = self.locate_imports(ctx, scope, Action::Delete).await?;
        let rows = self.store.list_secret_imports(&loc.folder.id).await?;
        let row = rows
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::not_found(format!("Secret import with ID '{id}' not found")))?;
        let import = self
            .with_environments(&loc, std::slice::from_ref(&row))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("Secret import with ID '{id}' not found")))?;
        if !self.store.delete_secret_import(&loc.project.id, id).await? {
            return Err(Error::not_found(format!(
                "Secret import with ID '{id}' not found"
            )));
        }
        self.import_event(ctx, "delete-secret-import", &loc, &row, &import.environment)
            .await;
        Ok(import)
    }

    /// The secrets each import of `loc` brings, read as `ctx` (an import whose folder is gone
    /// brings nothing).
    pub(crate) async fn imported_secrets(
        &self,
        ctx: &Ctx,
        loc: &Location,
    ) -> Result<Vec<ImportedSecrets>> {
        let imports = self.folder_imports(loc).await?;
        let mut out = Vec::with_capacity(imports.value.len());
        for row in imports.value.iter() {
            let Some(source) = self.import_source(ctx, loc, row).await? else {
                continue;
            };
            let rows = self
                .store
                .list_secrets(std::slice::from_ref(&source.folder.id))
                .await?;
            let data_key = self.data_key(&loc.project.id).await?;
            let mut secrets = Vec::with_capacity(rows.len());
            for row in rows.iter().filter(|r| r.secret_type == "shared") {
                secrets.push(self.open(&data_key, &source, &source.folder.path, row)?);
            }
            self.attach_tags(&loc.project.id, &mut secrets).await?;
            out.push(ImportedSecrets {
                environment: source.environment.slug.clone(),
                secret_path: source.folder.path.clone(),
                folder_id: source.folder.id.clone(),
                secrets,
            });
        }
        Ok(out)
    }

    /// A secret `loc` imports under `key`: the last import (by position) that holds it wins.
    pub(crate) async fn imported_secret(
        &self,
        ctx: &Ctx,
        loc: &Location,
        key: &str,
    ) -> Result<Option<Secret>> {
        let imports = self.folder_imports(loc).await?;
        for row in imports.value.iter().rev() {
            let Some(source) = self.import_source(ctx, loc, row).await? else {
                continue;
            };
            if let Some(cached) = self.cached_secret(&source, key, "shared").await? {
                let data_key = self.data_key(&loc.project.id).await?;
                let mut secret =
                    self.open(&data_key, &source, &source.folder.path, &cached.value)?;
                self.attach_tags(&loc.project.id, std::slice::from_mut(&mut secret))
                    .await?;
                return Ok(Some(secret));
            }
        }
        Ok(None)
    }

    /// Where an import points, read as `ctx`; `None` when the folder no longer exists.
    async fn import_source(
        &self,
        ctx: &Ctx,
        loc: &Location,
        row: &SecretImportRow,
    ) -> Result<Option<Location>> {
        match self
            .locate_shared(
                ctx,
                &loc.project.id,
                &row.import_env_id,
                Some(&row.import_path),
                Subject::Secrets,
                Action::Read,
            )
            .await
        {
            Ok(found) => Ok(Some(found.value.clone())),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn locate_imports(&self, ctx: &Ctx, scope: &Scope, action: Action) -> Result<Location> {
        self.locate(
            ctx,
            &scope.project_id,
            &scope.environment,
            scope.secret_path.as_deref(),
            Subject::SecretImports,
            action,
        )
        .await
    }

    async fn with_environments(
        &self,
        loc: &Location,
        rows: &[SecretImportRow],
    ) -> Result<Vec<SecretImport>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let environments = self.store.list_environments(&loc.project.id).await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                environments
                    .iter()
                    .find(|e| e.id == row.import_env_id)
                    .map(|environment| SecretImport {
                        row: row.clone(),
                        environment: environment.clone(),
                    })
            })
            .collect())
    }

    async fn import_event(
        &self,
        ctx: &Ctx,
        kind: &'static str,
        loc: &Location,
        row: &SecretImportRow,
        environment: &Environment,
    ) {
        self.audit(
            ctx,
            Some(&loc.project.id),
            Event::new(
                kind,
                json!({
                    "secretImportId": row.id,
                    "environment": loc.environment.slug,
                    "secretPath": loc.folder.path,
                    "importFromEnvironment": environment.slug,
                    "importFromSecretPath": row.import_path,
                }),
            ),
        )
        .await;
    }
}
