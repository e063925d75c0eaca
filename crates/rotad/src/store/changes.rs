//! What changed, for the in-memory caches of the read path (docs/ARCHITECTURE.md, "Caches").
//!
//! Every store write that changes something a cache holds names the *scopes* it touched
//! (`token:<id>`, `identity:<id>`, `project:<id>`, `rotation:<id>`, `connection:<id>`,
//! `secrets:<project id>`, `tags:<project id>`). After the write commits, the store bumps those scopes here; on
//! PostgreSQL the write's transaction also sends them with `NOTIFY`, and every replica bumps
//! them when the notification arrives (a replica that loses its listener forgets everything).
//!
//! A cache entry remembers the [`Changes::snapshot`] taken *before* it read the database, and
//! is served only while none of its scopes was bumped after that snapshot. So an entry read
//! before a write committed can never outlive the write's bump, even when the read finishes
//! after it: the race of a read-through cache is settled by comparing two numbers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// The PostgreSQL channel the scopes of each write are sent on.
pub const CHANNEL: &str = "rotad_changes";

/// How many scopes are remembered before the oldest knowledge is folded into one floor.
const MAX_SCOPES: usize = 65_536;

/// Scope names, one function per kind of thing a cache holds.
pub mod scope {
    pub fn token(id: &str) -> String {
        format!("token:{id}")
    }
    /// The identity, its org role, its universal-auth settings and its project memberships.
    pub fn identity(id: &str) -> String {
        format!("identity:{id}")
    }
    /// The project, its environments and folders.
    pub fn project(id: &str) -> String {
        format!("project:{id}")
    }
    pub fn rotation(id: &str) -> String {
        format!("rotation:{id}")
    }
    pub fn connection(id: &str) -> String {
        format!("connection:{id}")
    }
    /// Every secret of a project (and its secret imports).
    pub fn secrets(project_id: &str) -> String {
        format!("secrets:{project_id}")
    }
    /// A project's secret tags.
    pub fn tags(project_id: &str) -> String {
        format!("tags:{project_id}")
    }
}

/// A logical clock of changes, per scope.
#[derive(Debug)]
pub struct Changes {
    clock: AtomicU64,
    /// The clock when each scope was last bumped.
    /// Keys are scopes this process or another replica wrote (ids), never a caller's text:
    /// hashed with foldhash, several times per request.
    bumped: RwLock<HashMap<String, u64, foldhash::fast::RandomState>>,
    /// Scopes missing from `bumped` count as bumped at `floor` (everything was forgotten then).
    floor: AtomicU64,
    /// Whether other processes' changes are being followed (the listener is up).
    following: tokio::sync::watch::Sender<bool>,
    /// How many times a SQLite file was checked for other processes' writes.
    file_checks: AtomicU64,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            clock: AtomicU64::new(0),
            bumped: RwLock::default(),
            floor: AtomicU64::new(0),
            following: tokio::sync::watch::Sender::new(false),
            file_checks: AtomicU64::new(0),
        }
    }
}

impl Changes {
    /// Other processes' changes are followed from now on.
    pub fn set_following(&self) {
        self.following.send_replace(true);
    }

    /// Waits until other processes' changes are followed (a server waits for this before it
    /// answers, so that its caches are never forgotten under a request that just filled them).
    pub async fn wait_following(&self) {
        let mut following = self.following.subscribe();
        let _ = following.wait_for(|on| *on).await;
    }

    /// Counts one check of a SQLite file for other processes' writes.
    pub fn file_checked(&self) {
        self.file_checks.fetch_add(1, Ordering::SeqCst);
    }

    /// How many checks of a SQLite file for other processes' writes were made so far.
    pub fn file_checks(&self) -> u64 {
        self.file_checks.load(Ordering::SeqCst)
    }

    /// The clock now: take it before reading what a cache entry will hold.
    pub fn snapshot(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Records that `scopes` changed (after the change committed).
    pub fn bump<S: AsRef<str>>(&self, scopes: &[S]) {
        if scopes.is_empty() {
            return;
        }
        let at = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(mut bumped) = self.bumped.write() else {
            self.forget_all();
            return;
        };
        if bumped.len() + scopes.len() > MAX_SCOPES {
            bumped.clear();
            self.floor.store(at, Ordering::SeqCst);
        }
        for scope in scopes {
            bumped.insert(scope.as_ref().to_string(), at);
        }
    }

    /// Every entry read before now is stale (a lost listener, a flush).
    pub fn forget_all(&self) {
        let at = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut bumped) = self.bumped.write() {
            bumped.clear();
        }
        self.floor.store(at, Ordering::SeqCst);
    }

    /// Whether an entry read after `snapshot` and depending on `scopes` is still current.
    pub fn fresh<S: AsRef<str>>(&self, scopes: &[S], snapshot: u64) -> bool {
        if self.floor.load(Ordering::SeqCst) > snapshot {
            return false;
        }
        let Ok(bumped) = self.bumped.read() else {
            return false;
        };
        scopes
            .iter()
            .all(|s| bumped.get(s.as_ref()).is_none_or(|at| *at <= snapshot))
    }

    /// Applies a notification's payload (scopes separated by spaces).
    pub fn apply_payload(&self, payload: &str) {
        let scopes: Vec<&str> = payload.split_whitespace().collect();
        self.bump(&scopes);
    }
}

/// The payload of one notification: the scopes, separated by spaces.
pub fn payload<S: AsRef<str>>(scopes: &[S]) -> String {
    scopes
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::Changes;

    #[test]
    fn an_entry_read_before_a_bump_is_stale_and_one_read_after_is_fresh() {
        let changes = Changes::default();
        let before = changes.snapshot();
        assert!(changes.fresh(&["rotation:a"], before));
        changes.bump(&["rotation:a"]);
        assert!(!changes.fresh(&["rotation:a"], before));
        assert!(changes.fresh(&["rotation:b"], before));
        let after = changes.snapshot();
        assert!(changes.fresh(&["rotation:a", "rotation:b"], after));
        changes.forget_all();
        assert!(!changes.fresh(&["rotation:b"], after));
        assert!(changes.fresh(&["rotation:b"], changes.snapshot()));
    }

    #[test]
    fn forgetting_old_scopes_never_makes_a_stale_entry_fresh() {
        let changes = Changes::default();
        let before = changes.snapshot();
        changes.bump(&["token:x"]);
        for i in 0..super::MAX_SCOPES {
            changes.bump(&[format!("rotation:{i}")]);
        }
        assert!(!changes.fresh(&["token:x"], before));
    }
}
