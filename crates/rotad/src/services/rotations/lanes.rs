//! One lane per rotation for the PATCHes of this process (docs/ARCHITECTURE.md, "PATCH lanes").
//!
//! PATCHes are fenced on the row's version, so two racing PATCHes never lose an update; but
//! many at once on one rotation would mostly fail their fence and start again. A lane queues
//! this process's PATCHes of one rotation instead: whoever holds it commits every PATCH queued
//! so far (`patch.rs`), starting from the view the previous commit left, so a stream of
//! PATCHes costs one transaction per group and no read. Another writer (the engine, another
//! replica) still fails the fence, and the PATCH then reads the row again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{RotationView, UpdateRotation};
use crate::error::Result;
use crate::services::Ctx;

/// A queued PATCH and where its answer goes.
pub struct Waiting {
    pub ctx: Ctx,
    pub input: UpdateRotation,
    pub answer: oneshot::Sender<Result<RotationView>>,
}

/// While PATCHes stream in (the lane committed a group less than [`STREAMING`] ago), a holder
/// that finds fewer than [`GATHER_UNTIL`] queued waits [`GATHER`] for more before it commits:
/// one commit then serves several PATCHes, which costs each far less than a commit of its own
/// on a single writer. A lone PATCH never waits.
const GATHER: Duration = Duration::from_millis(1);
const GATHER_UNTIL: usize = 16;
const STREAMING: Duration = Duration::from_millis(5);

/// The lane of one rotation.
#[derive(Default)]
pub struct Lane {
    /// Held while a group commits; holds what the last commit left.
    pub last: tokio::sync::Mutex<Option<RotationView>>,
    waiting: Mutex<Vec<Waiting>>,
    /// When the lane last committed.
    committed: Mutex<Option<Instant>>,
}

impl Lane {
    /// Waits a moment for more PATCHes when they stream in and few are queued (the caller
    /// holds [`Lane::last`]).
    pub async fn gather(&self) {
        let queued = self.waiting.lock().map(|q| q.len()).unwrap_or(0);
        let streaming = self
            .committed
            .lock()
            .ok()
            .and_then(|at| *at)
            .is_some_and(|at| at.elapsed() < STREAMING);
        if streaming && (1..GATHER_UNTIL).contains(&queued) {
            tokio::time::sleep(GATHER).await;
        }
    }

    /// Notes that a group was committed now.
    pub fn committed(&self) {
        if let Ok(mut at) = self.committed.lock() {
            *at = Some(Instant::now());
        }
    }

    pub fn queue(&self, waiting: Waiting) {
        if let Ok(mut queue) = self.waiting.lock() {
            queue.push(waiting);
        }
    }

    /// Everything queued, in order.
    pub fn take(&self) -> Vec<Waiting> {
        self.waiting
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }
}

#[derive(Default)]
pub struct PatchLanes {
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
}

impl PatchLanes {
    /// The lane of rotation `id`; hand it back with [`PatchLanes::leave`].
    pub fn enter(&self, id: &str) -> Arc<Lane> {
        let Ok(mut lanes) = self.lanes.lock() else {
            return Arc::default();
        };
        lanes.entry(id.to_string()).or_default().clone()
    }

    /// Forgets the lane once nobody else is in it, so lanes last only while PATCHes queue.
    pub fn leave(&self, id: &str, lane: Arc<Lane>) {
        drop(lane);
        if let Ok(mut lanes) = self.lanes.lock() {
            if lanes.get(id).is_some_and(|l| Arc::strong_count(l) == 1) {
                lanes.remove(id);
            }
        }
    }
}
