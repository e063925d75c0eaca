//! Bounded in-memory caches of the read path (docs/ARCHITECTURE.md, "Caches").
//!
//! Each shelf holds values read from the store, each with the scopes it depends on and the
//! [`Changes`] snapshot taken before it was read. An entry is served only while none of its
//! scopes changed since (see `store::changes`), and never after `max_age` (a last line of
//! defence, should a change ever go unheard). Values stay sealed where the store seals them:
//! secrets are decrypted on every read, never cached in clear.

use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use super::projects::Location;
use super::rotations::RotationView;
use crate::store::changes::Changes;
use crate::store::{
    AccessToken, Identity, Membership, Project, SecretImportRow, SecretRow, TagRow,
};

/// The bounds of all caches together (`ROTAD_CACHE_MAX_ENTRIES`, `ROTAD_CACHE_MAX_BYTES`,
/// `ROTAD_CACHE_MAX_AGE`).
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: usize,
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: Duration::from_secs(60),
        }
    }
}

/// One cached value and what it depends on.
pub struct Entry<V> {
    pub value: V,
    scopes: Vec<String>,
    snapshot: u64,
    loaded: Instant,
    weight: u64,
    /// The value rendered once: a rotation view's API answer, a token context's audit actor
    /// (only for values that hold no secret; each shelf renders one thing).
    rendered: OnceLock<Bytes>,
}

impl<V> Entry<V> {
    /// The value rendered by `render`, computed at most once per entry. For renderings that
    /// hold no secret in clear (rotation views, audit actors): a secret's value is decrypted at
    /// every read.
    pub fn rendered(&self, render: impl FnOnce(&V) -> Bytes) -> Bytes {
        self.rendered.get_or_init(|| render(&self.value)).clone()
    }
}

/// A borrowed two-part key, to look up `(String, String)` keys without allocating.
#[derive(Hash)]
pub struct Pair<'a>(pub &'a str, pub &'a str);

impl Equivalent<(String, String)> for Pair<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// A borrowed three-part key, to look up `(String, String, String)` keys without allocating.
#[derive(Hash)]
pub struct Triple<'a>(pub &'a str, pub &'a str, pub &'a str);

impl Equivalent<(String, String, String)> for Triple<'_> {
    fn equivalent(&self, key: &(String, String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

#[derive(Clone)]
struct ByWeight;

impl<K, V> Weighter<K, Arc<Entry<V>>> for ByWeight {
    fn weight(&self, _: &K, entry: &Arc<Entry<V>>) -> u64 {
        entry.weight
    }
}

/// A bounded map of entries of one kind.
pub struct Shelf<K, V> {
    map: Cache<K, Arc<Entry<V>>, ByWeight>,
    changes: Arc<Changes>,
    /// Every entry weighs at least this much, so that the byte bound also bounds the count.
    min_weight: u64,
    max_age: Duration,
}

impl<K: Eq + Hash + Clone, V> Shelf<K, V> {
    fn new(changes: Arc<Changes>, entries: usize, bytes: u64, max_age: Duration) -> Self {
        let entries = entries.max(1);
        let bytes = bytes.max(1);
        Self {
            map: Cache::with_weighter(entries, bytes, ByWeight),
            changes,
            min_weight: (bytes / entries as u64).max(1),
            max_age,
        }
    }

    /// The clock to pass to [`Shelf::put`]: take it before reading the store.
    pub fn snapshot(&self) -> u64 {
        self.changes.snapshot()
    }

    /// The entry under `key`, if it is still current.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<Entry<V>>>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let entry = self.map.get(key)?;
        if entry.loaded.elapsed() < self.max_age
            && self.changes.fresh(&entry.scopes, entry.snapshot)
        {
            Some(entry)
        } else {
            self.map.remove(key);
            None
        }
    }

    /// Keeps `value`, read from the store after `snapshot`, as long as `scopes` do not change,
    /// and hands it back. `bytes` is an estimate of its size.
    pub fn put(
        &self,
        key: K,
        value: V,
        scopes: Vec<String>,
        snapshot: u64,
        bytes: usize,
    ) -> Arc<Entry<V>> {
        let weight = (bytes as u64 + 64).max(self.min_weight);
        let entry = Arc::new(Entry {
            value,
            scopes,
            snapshot,
            loaded: Instant::now(),
            weight,
            rendered: OnceLock::new(),
        });
        // Changed while it was read: served to this reader only; the next one reads again.
        if self.changes.fresh(&entry.scopes, snapshot) {
            self.map.insert(key, entry.clone());
        }
        entry
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What an access token stands for: its row, its identity and where it may be used from.
/// Cached under the whole bearer token, whose signature was checked when it was read.
#[derive(Clone)]
pub struct TokenContext {
    pub token: AccessToken,
    pub identity: Identity,
    /// The identity's universal-auth `accessTokenTrustedIps` (JSON), when it has one.
    pub trusted_ips: Option<String>,
}

/// A project and the caller's membership in it.
#[derive(Clone)]
pub struct ProjectAccess {
    pub project: Project,
    pub membership: Option<Membership>,
}

/// The caches of one server.
pub struct Caches {
    /// Bearer token (signature checked) → its context.
    pub tokens: Shelf<String, TokenContext>,
    /// (project id, identity id) → the project and the membership.
    pub access: Shelf<(String, String), ProjectAccess>,
    /// (project id, environment, normalised path) → environment and folder.
    pub locations: Shelf<(String, String, String), Location>,
    /// (folder id, key, type) → the sealed secret row.
    pub secrets: Shelf<(String, String, String), SecretRow>,
    /// Rotation id → its view (no credentials: those are read from the store each time).
    pub rotations: Shelf<String, RotationView>,
    /// Project id → its secret tags.
    pub tags: Shelf<String, Vec<TagRow>>,
    /// Folder id → its secret imports, by position.
    pub imports: Shelf<String, Vec<SecretImportRow>>,
}

impl Caches {
    pub fn new(changes: Arc<Changes>, settings: CacheSettings) -> Self {
        // Seven shelves share the bounds.
        let entries = settings.max_entries / 7;
        let bytes = settings.max_bytes / 7;
        let age = settings.max_age;
        Self {
            tokens: Shelf::new(changes.clone(), entries, bytes, age),
            access: Shelf::new(changes.clone(), entries, bytes, age),
            locations: Shelf::new(changes.clone(), entries, bytes, age),
            secrets: Shelf::new(changes.clone(), entries, bytes, age),
            rotations: Shelf::new(changes.clone(), entries, bytes, age),
            tags: Shelf::new(changes.clone(), entries, bytes, age),
            imports: Shelf::new(changes, entries, bytes, age),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shelf_never_serves_an_entry_whose_scope_changed() {
        let changes = Arc::new(Changes::default());
        let shelf: Shelf<String, u32> =
            Shelf::new(changes.clone(), 10, 10_000, Duration::from_secs(60));
        let before = shelf.snapshot();
        let _ = shelf.put("a".into(), 1, vec!["rotation:a".into()], before, 8);
        assert_eq!(shelf.get("a").map(|e| e.value), Some(1));
        changes.bump(&["rotation:a"]);
        assert!(shelf.get("a").is_none());
        // A value read before the change is handed back but not kept.
        let _ = shelf.put("a".into(), 1, vec!["rotation:a".into()], before, 8);
        assert!(shelf.get("a").is_none());
    }

    #[test]
    fn a_shelf_holds_at_most_its_bound() {
        let changes = Arc::new(Changes::default());
        let shelf: Shelf<u32, u32> = Shelf::new(changes, 100, 100 * 1024, Duration::from_secs(60));
        for i in 0..10_000 {
            let at = shelf.snapshot();
            let _ = shelf.put(i, i, Vec::new(), at, 16);
        }
        assert!(shelf.len() <= 110, "{} entries", shelf.len());
    }
}
