//! Revocations the provider confirmed, taken off the queue in batches (docs/ARCHITECTURE.md,
//! "Statement budget").
//!
//! Once dbt confirms that a displaced token is revoked, its queue entry is only bookkeeping: a
//! revocation is idempotent (dbt answers 404 for a token already gone, which counts as done),
//! so an entry that outlives its token costs at most one more DELETE call at dbt, never a live
//! token. Each rotation therefore hands its confirmed entry to this buffer instead of deleting
//! it with a statement of its own; a background writer deletes what the buffer holds in one
//! statement every 50 ms, at 256 entries and at shutdown. Until then this process's revocation
//! worker skips the entries it holds, so it does not revoke them again; after a crash, the
//! worker finds them due and revokes them once more, harmlessly.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::store::RevocationRow;

/// How often confirmed entries are deleted.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is flushed at once.
const FLUSH_AT: usize = 256;

/// Queue entries whose revocation dbt confirmed, not yet deleted.
#[derive(Default)]
pub struct Confirmed {
    ids: Mutex<HashSet<String>>,
    full: Notify,
    /// Serialises flushes: who flushes knows every entry confirmed before is deleted.
    flushing: tokio::sync::Mutex<()>,
}

impl Confirmed {
    pub fn push(&self, id: &str) {
        let Ok(mut ids) = self.ids.lock() else {
            return;
        };
        ids.insert(id.to_string());
        if ids.len() >= FLUSH_AT {
            self.full.notify_one();
        }
    }

    /// `rows` less the entries confirmed already.
    pub fn pending(&self, rows: Vec<RevocationRow>) -> Vec<RevocationRow> {
        match self.ids.lock() {
            Ok(ids) if !ids.is_empty() => {
                rows.into_iter().filter(|r| !ids.contains(&r.id)).collect()
            }
            _ => rows,
        }
    }
}

impl Engine {
    /// Deletes every confirmed entry from the queue. A failure keeps them for the next flush
    /// (the worker still skips them, and would revoke them harmlessly if it did not).
    pub async fn flush_confirmed_revocations(&self) {
        let _turn = self.confirmed.flushing.lock().await;
        let ids: Vec<String> = match self.confirmed.ids.lock() {
            Ok(ids) => ids.iter().cloned().collect(),
            Err(_) => return,
        };
        if ids.is_empty() {
            return;
        }
        match self.store.delete_revocations(&ids).await {
            Ok(()) => {
                if let Ok(mut held) = self.confirmed.ids.lock() {
                    for id in &ids {
                        held.remove(id);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, entries = ids.len(), "could not delete confirmed revocations; will retry")
            }
        }
    }
}

/// The background writer: flushes every [`FLUSH_EVERY`] or when the buffer is full, until
/// `shutdown`, and once more after it.
pub async fn run(app: crate::services::AppState, shutdown: CancellationToken) {
    let engine = &app.engine;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
            _ = engine.confirmed.full.notified() => {}
        }
        engine.flush_confirmed_revocations().await;
    }
    engine.flush_confirmed_revocations().await;
}
