//! Read events without the database writer on the read path (docs/ARCHITECTURE.md, "Audit of
//! reads"). A read appends its audit entry to an in-memory buffer; a background writer flushes
//! the buffer in one transaction every 50 ms, as soon as it holds 1,000 entries, and at
//! shutdown. Writes never come here: their entries stay in the transaction of their change.

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
const MAX_PENDING: usize = 100_000;

/// The buffer of read events not yet written.
pub struct ReadAudit {
    pub mode: AuditReads,
    pending: Mutex<Vec<AuditRow>>,
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
            pending: Mutex::new(Vec::new()),
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
        pending.push(row);
        if pending.len() >= FLUSH_AT {
            self.full.notify_one();
        }
    }

    fn take(&self) -> Vec<AuditRow> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

impl App {
    /// Records a read event according to `ROTAD_AUDIT_READS`.
    pub(crate) async fn audit_read_row(&self, row: AuditRow) {
        match self.read_audit.mode {
            AuditReads::Batched => self.read_audit.push(row),
            AuditReads::Sync => {
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
                let newer = std::mem::replace(&mut *pending, batch);
                pending.extend(newer);
                pending.truncate(MAX_PENDING);
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
