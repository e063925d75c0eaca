//! One lane per rotation for the PATCHes of this process (docs/ARCHITECTURE.md, "Caches").
//!
//! PATCHes are fenced on the row's version, so two racing PATCHes never lose an update; but
//! many at once on one rotation would mostly fail their fence and start again. A lane queues
//! this process's PATCHes of one rotation instead, and hands each the view the previous one
//! committed, so a stream of PATCHes costs one transaction each and no read. Another writer
//! (the engine, another replica) still fails the fence, and the PATCH then reads the row again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::RotationView;

type Lane = Arc<tokio::sync::Mutex<Option<RotationView>>>;

#[derive(Default)]
pub struct PatchLanes {
    lanes: Mutex<HashMap<String, Lane>>,
}

impl PatchLanes {
    /// The lane of rotation `id`; hand it back with [`PatchLanes::leave`].
    pub fn enter(&self, id: &str) -> Lane {
        let Ok(mut lanes) = self.lanes.lock() else {
            return Lane::default();
        };
        lanes.entry(id.to_string()).or_default().clone()
    }

    /// Forgets the lane once nobody else is in it, so lanes last only while PATCHes queue.
    pub fn leave(&self, id: &str, lane: Lane) {
        drop(lane);
        if let Ok(mut lanes) = self.lanes.lock() {
            if lanes.get(id).is_some_and(|l| Arc::strong_count(l) == 1) {
                lanes.remove(id);
            }
        }
    }
}
