//! Data keys per scope (a project or an organization), created on first use, unwrapped once
//! and cached.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

use crate::crypto::{DataKey, RootKey};
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Clone)]
pub struct Keyring {
    root: RootKey,
    cache: Arc<RwLock<HashMap<String, DataKey>>>,
}

impl Keyring {
    pub fn new(root: RootKey) -> Self {
        Self {
            root,
            cache: Arc::default(),
        }
    }

    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// The data key of `scope`, creating it on first use.
    pub async fn key_for(&self, store: &dyn Store, scope: &str) -> Result<DataKey> {
        if let Some(key) = self.cached(scope) {
            return Ok(key);
        }
        let (id, wrapped) = match store.get_data_key(scope).await? {
            Some(found) => found,
            None => {
                let (key, wrapped) = self.root.new_data_key();
                store
                    .insert_data_key(scope, &key.id().to_string(), &wrapped)
                    .await?;
                // Read back: a concurrent creator (another task or replica) may have won the
                // insert.
                store
                    .get_data_key(scope)
                    .await?
                    .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("data key vanished")))?
            }
        };
        let id = Uuid::parse_str(&id).map_err(|e| Error::Unexpected(e.into()))?;
        let key = self.root.unwrap_data_key(id, &wrapped)?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(scope.to_string(), key.clone());
        }
        Ok(key)
    }

    fn cached(&self, scope: &str) -> Option<DataKey> {
        self.cache.read().ok()?.get(scope).cloned()
    }
}

pub fn project_scope(project_id: &str) -> String {
    format!("project:{project_id}")
}

pub fn org_scope(org_id: &str) -> String {
    format!("org:{org_id}")
}
