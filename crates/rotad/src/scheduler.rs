//! The scheduler: claims due auto-rotations under leases and runs them through the same
//! engine call as `rotate-secrets`, with bounded concurrency (docs/ARCHITECTURE.md, "Scheduling").
//!
//! Every replica runs one. A claim is a lease in the store (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so a rotation runs on one executor at a time across replicas; a dead
//! replica's leases expire and another one takes the rotations over. A claimed rotation that
//! a dead executor left mid-flight is settled first (its persisted token published, anything
//! else swept), so a takeover never mints a token that was already minted.
//!
//! Failures retry with exponential backoff and jitter (the engine records the next attempt);
//! the last of `ROTAD_ROTATION_MAX_ATTEMPTS` marks the rotation failed, alerts, and schedules
//! the next episode as upstream does. Nothing is ever claimed that is not due, so a restart
//! causes no rotation (I5).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::services::rotations::{RotateError, Trigger, ROTATION_SPAN_TARGET};
use crate::services::webhooks::deliver_due;
use crate::services::AppState;
use crate::store::LeasedRotation;
use crate::time::now_ms;

/// Webhook deliveries sent per pass.
const DELIVERY_BATCH: i64 = 50;

/// The job id a scheduled attempt records, as upstream names its queue jobs.
pub fn job_id(rotation_id: &str) -> String {
    format!("secret-rotation-v2-rotate-{rotation_id}")
}

/// Runs until `shutdown`: then stops claiming, lets in-flight rotations finish for up to
/// `ROTAD_SHUTDOWN_GRACE`, and hands back (releases) the leases of any still running.
pub async fn run(app: AppState, concurrency: usize, shutdown: CancellationToken) {
    let poll = Duration::from_millis(app.settings.scheduler_poll_ms.max(1) as u64);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    // What each task holds: (rotation id, its own lease owner).
    let running: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    let mut tasks = JoinSet::new();
    tokio::spawn(webhook_loop(app.clone(), poll, shutdown.clone()));
    tracing::info!(
        poll_ms = poll.as_millis() as u64,
        concurrency,
        "scheduler started"
    );
    loop {
        // Claim as long as there is room and work; then wait for the next tick.
        loop {
            while tasks.try_join_next().is_some() {}
            let mut held = Vec::new();
            while let Ok(p) = permits.clone().try_acquire_owned() {
                held.push(p);
            }
            if held.is_empty() {
                // Full: wait for a slot (or shutdown) and look again.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tasks.join_next() => continue,
                }
            }
            let now = now_ms();
            let span = tracing::debug_span!(target: ROTATION_SPAN_TARGET, "claim");
            let claimed = match app
                .store
                .claim_due_rotations(
                    now,
                    &format!("{}:", app.engine.lease_owner()),
                    now + app.settings.lease_ms,
                    held.len() as i64,
                )
                .instrument(span.clone())
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler: cannot claim due rotations; will retry");
                    Vec::new()
                }
            };
            span.in_scope(|| {
                for claim in &claimed {
                    tracing::trace!(target: ROTATION_SPAN_TARGET, rotation_id = %claim.row.id, "claimed");
                }
            });
            let full_batch = claimed.len() == held.len();
            for (claim, permit) in claimed.into_iter().zip(held.drain(..)) {
                let app = app.clone();
                let running = running.clone();
                if let (Ok(mut r), Some(owner)) = (running.lock(), claim.row.lease_owner.clone()) {
                    r.insert((claim.row.id.clone(), owner));
                }
                tasks.spawn(async move {
                    let id = claim.row.id.clone();
                    run_claimed(&app, claim).await;
                    if let Ok(mut r) = running.lock() {
                        r.retain(|(held, _)| *held != id);
                    }
                    drop(permit);
                });
            }
            if !full_batch || shutdown.is_cancelled() {
                break;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(poll) => {}
        }
    }
    drain(&app, tasks, running).await;
}

/// Waits for in-flight rotations, then releases the leases of those that did not finish so
/// another replica (or the next start) takes them over at once instead of after expiry.
async fn drain(
    app: &AppState,
    mut tasks: JoinSet<()>,
    running: Arc<Mutex<HashSet<(String, String)>>>,
) {
    let finished = tokio::time::timeout(app.settings.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if finished.is_ok() {
        tracing::info!("scheduler stopped");
        return;
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let left: Vec<(String, String)> = running
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default();
    for (id, owner) in &left {
        if let Err(e) = app.store.release_lease(id, owner).await {
            tracing::warn!(rotation_id = %id, error = %e, "cannot hand back a rotation lease; it will expire");
        }
    }
    tracing::warn!(
        handed_back = left.len(),
        "scheduler stopped; unfinished rotations handed back"
    );
}

/// One claimed rotation, under the lease its claim took (an owner of its own), from the row and
/// context the claim read: the engine settles what a dead executor left, else rotates.
async fn run_claimed(app: &AppState, claim: LeasedRotation) {
    let Some(owner) = claim.row.lease_owner.clone() else {
        return;
    };
    let id = claim.row.id.clone();
    let attempt = claim.row.failed_attempts + 1;
    let trigger = Trigger {
        manual: false,
        job_id: Some(job_id(&id)),
        final_attempt: attempt >= i64::from(app.settings.rotation_max_attempts),
    };
    match app.engine.rotate_claimed(claim, &owner, trigger).await {
        Ok(_) => tracing::info!(rotation_id = %id, "scheduled rotation succeeded"),
        Err(RotateError::Failed(_)) => {
            tracing::warn!(rotation_id = %id, attempt, "scheduled rotation failed")
        }
        Err(e) => {
            tracing::warn!(rotation_id = %id, error = %e, "scheduled rotation could not run")
        }
    }
}

/// Works the webhook outbox every tick (and right away while a batch came back full).
async fn webhook_loop(app: AppState, poll: Duration, shutdown: CancellationToken) {
    let tick = poll.min(Duration::from_secs(1));
    loop {
        let sent = deliver_due(&app, DELIVERY_BATCH).await;
        if sent as i64 >= DELIVERY_BATCH {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}
