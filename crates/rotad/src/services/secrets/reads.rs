//! The raw read routes' options beyond a plain read: imports, tag filters and reference
//! expansion (docs/COMPATIBILITY.md, "Secrets beyond get/set"). With none of them asked for, a
//! read costs what a plain one does.

use super::{Scope, Secret};
use crate::error::{Error, Result};
use crate::services::authz::Action;
use crate::services::secret_imports::ImportedSecrets;
use crate::services::{App, Ctx};

/// What a read asks for besides the secrets themselves.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The folders below too (lists only).
    pub recursive: bool,
    /// Expand `${…}` references in the values.
    pub expand_references: bool,
    /// Answer imported secrets too (lists), or fall back to them (reads by name).
    pub include_imports: bool,
    /// Only secrets carrying one of these tags (lists only; empty: all).
    pub tag_slugs: Vec<String>,
}

/// A folder's secrets, and what its imports bring when asked for.
#[derive(Debug, Default)]
pub struct SecretList {
    pub secrets: Vec<Secret>,
    pub imports: Vec<ImportedSecrets>,
}

impl App {
    /// The secrets of `scope` as [`ReadOptions`] ask.
    pub async fn read_secrets(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        options: &ReadOptions,
    ) -> Result<SecretList> {
        let mut secrets = self.list_secrets(ctx, scope, options.recursive).await?;
        if !options.tag_slugs.is_empty() {
            self.filter_by_tag_slugs(&mut secrets, &options.tag_slugs);
        }
        let mut imports = Vec::new();
        if options.include_imports {
            let loc = self.locate_scope(ctx, scope, Action::Read).await?;
            imports = self.imported_secrets(ctx, &loc).await?;
        }
        if options.expand_references {
            self.expand_secret_references(ctx, &mut secrets).await?;
            for import in &mut imports {
                self.expand_secret_references(ctx, &mut import.secrets)
                    .await?;
            }
        }
        Ok(SecretList { secrets, imports })
    }

    /// A secret by name as [`ReadOptions`] ask: with `include_imports`, one the folder imports
    /// when it has none of its own by that name.
    pub async fn read_secret(
        &self,
        ctx: &Ctx,
        scope: &Scope,
        key: &str,
        secret_type: Option<&str>,
        version: Option<i64>,
        options: &ReadOptions,
    ) -> Result<Secret> {
        let mut secret = match self.get_secret(ctx, scope, key, secret_type, version).await {
            Ok(found) => found,
            Err(Error::NotFound(message)) if options.include_imports && version.is_none() => {
                let loc = self.locate_scope(ctx, scope, Action::Read).await?;
                self.imported_secret(ctx, &loc, key.trim())
                    .await?
                    .ok_or(Error::NotFound(message))?
            }
            Err(e) => return Err(e),
        };
        if options.expand_references {
            self.expand_secret_references(ctx, std::slice::from_mut(&mut secret))
                .await?;
        }
        Ok(secret)
    }
}
