//! Read events without the database writer on the read path (docs/ARCHITECTURE.md, "Audit of
//! reads"). A read appends its audit entry to an in-memory buffer; a background writer flushes
//! the buffer in one transaction every 50 ms, as soon as it holds 1,000 entries, and at
//! shutdown. Writes never come here: their entries stay in the transaction of their change.
//!
//! Identical read events of one batch (same caller, event, resource, address and user agent;
//! a client polling one secret) are written as one entry whose metadata counts them (`count`)
//! and gives the last one's time (`lastAt`, milliseconds): a consumer polling a secret a
//! thousand times a second adds some twenty entries a second, not a thousand.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::App;
use crate::config::AuditReads;
use crate::store::AuditRow;

/// How often the buffer is flushed.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is flushed at once.
pub const FLUSH_AT: usize = 1_000;
/// Past this many entries (a database that stays down), new read events are dropped and
/// counted rather than held without bound.
const MAX_PENDING: usize = 20_000;

/// A read event, compared on what it says (not its id or time).
struct Read(AuditRow);

impl PartialEq for Read {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.org_id == b.org_id
            && a.project_id == b.project_id
            && a.event_type == b.event_type
            && a.actor == b.actor
            && a.metadata == b.metadata
            && a.ip_address == b.ip_address
            && a.user_agent == b.user_agent
    }
}

impl Eq for Read {}

impl Hash for Read {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let r = &self.0;
        (
            &r.org_id,
            &r.project_id,
            &r.event_type,
            &r.actor,
            &r.metadata,
        )
            .hash(state);
        (&r.ip_address, &r.user_agent).hash(state);
    }
}

/// How many times an event happened in this batch, and when last.
struct Seen {
    count: u64,
    last_at: i64,
}

/// A read event's entry with its id: read events are named when written, not when queued.
fn named(row: AuditRow) -> AuditRow {
    if !row.id.is_empty() {
        return row;
    }
    AuditRow {
        id: super::new_id(),
        ..row
    }
}

/// The buffer of read events not yet written.
pub struct ReadAudit {
    pub mode: AuditReads,
    pending: Mutex<HashMap<Read, Seen>>,
    full: Notify,
    /// Serialises flushes, so that a caller who flushes knows every earlier event is written.
    flushing: tokio::sync::Mutex<()>,
    /// Read events dropped because the buffer was full.
    dropped: AtomicU64,
}

impl ReadAudit {
    pub fn new(mode: AuditReads) -> Self {
        Self {
            mode,
            pending: Mutex::new(HashMap::new()),
            full: Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues one entry; wakes the writer when the batch is full.
    pub fn push(&self, row: AuditRow) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.len() >= MAX_PENDING {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped % 10_000 == 0 {
                tracing::error!(
                    dropped = dropped + 1,
                    "the audit log cannot keep up: read events are being dropped"
                );
            }
            return;
        }
        let at = row.created_at;
        let seen = pending.entry(Read(row)).or_insert(Seen {
            count: 0,
            last_at: at,
        });
        seen.count += 1;
        seen.last_at = seen.last_at.max(at);
        if pending.len() >= FLUSH_AT {
            self.full.notify_one();
        }
    }

    /// Everything queued, one entry per distinct event.
    fn take(&self) -> Vec<AuditRow> {
        let pending = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        pending
            .into_iter()
            .map(|(Read(row), seen)| {
                let mut row = named(row);
                if seen.count > 1 {
                    if let Ok(serde_json::Value::Object(mut m)) =
                        serde_json::from_str::<serde_json::Value>(&row.metadata)
                    {
                        m.insert("count".into(), seen.count.into());
                        m.insert("lastAt".into(), seen.last_at.into());
                        row.metadata = serde_json::Value::Object(m).to_string();
                    }
                }
                row
            })
            .collect()
    }
}

impl App {
    /// Records a read event according to `ROTAD_AUDIT_READS`.
    pub(crate) async fn audit_read_row(&self, row: AuditRow) {
        match self.read_audit.mode {
            AuditReads::Batched => self.read_audit.push(row),
            AuditReads::Sync => {
                let row = named(row);
                if let Err(e) = self.store.insert_audit(&row).await {
                    tracing::error!(error = %e, event = %row.event_type, "could not write audit log entry");
                }
            }
            AuditReads::Off => {}
        }
    }

    /// Writes every read event queued so far. A failed batch goes back to the front of the
    /// queue, to be tried again with the next flush.
    pub async fn flush_read_audit(&self) {
        let _turn = self.read_audit.flushing.lock().await;
        let batch = self.read_audit.take();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.insert_audit_batch(&batch).await {
            tracing::error!(error = %e, entries = batch.len(), "could not write read events to the audit log; will retry");
            if let Ok(mut pending) = self.read_audit.pending.lock() {
                for row in batch {
                    if pending.len() >= MAX_PENDING {
                        break;
                    }
                    let at = row.created_at;
                    pending
                        .entry(Read(row))
                        .or_insert(Seen {
                            count: 0,
                            last_at: at,
                        })
                        .count += 1;
                }
            }
        }
    }
}

/// The background writer: flushes every [`FLUSH_EVERY`], or when a batch is full, until
/// `shutdown`, and once more after it.
pub async fn run(app: crate::services::AppState, shutdown: CancellationToken) {
    if app.read_audit.mode != AuditReads::Batched {
        return;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
            _ = app.read_audit.full.notified() => {}
        }
        app.flush_read_audit().await;
    }
    app.flush_read_audit().await;
}
