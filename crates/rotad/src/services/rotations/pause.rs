//! Pause points: named places in the engine where a test stops it, to kill the process there
//! or to run a racing call before letting it go on (docs/ARCHITECTURE.md, "How the races are
//! tested").
//!
//! Two ways to arm one: a process started with `ROTAD_TEST_PAUSE_AT=<step>` stops at that step
//! for good (and says so on stderr) so a test can SIGKILL it there; an in-process test calls
//! [`PausePoints::arm`], waits for [`Paused::reached`], does its racing call, then drops or
//! [`Paused::release`]s the handle. Unarmed, a pause point costs one uncontended lock.

use std::sync::Mutex;

use tokio::sync::oneshot;

/// Armed pause points of one server.
#[derive(Default)]
pub struct PausePoints {
    armed: Mutex<Vec<Armed>>,
}

struct Armed {
    step: &'static str,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A test's handle on an armed pause point.
pub struct Paused {
    reached: oneshot::Receiver<()>,
    release: Option<oneshot::Sender<()>>,
}

impl Paused {
    /// Waits until an executor stops at the step. Returns false if the server dropped the
    /// point without reaching it.
    pub async fn reached(&mut self) -> bool {
        (&mut self.reached).await.is_ok()
    }

    /// Resolves if the stopped executor gives up waiting without being released: its task
    /// was dropped (what happens to a request's work when its client hangs up).
    pub async fn abandoned(&mut self) {
        match self.release.as_mut() {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }

    /// Lets the stopped executor go on (dropping the handle does the same).
    pub fn release(mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

impl PausePoints {
    /// Arms `step` once: the next executor to reach it stops until the handle is released.
    pub fn arm(&self, step: &'static str) -> Paused {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        if let Ok(mut armed) = self.armed.lock() {
            armed.push(Armed {
                step,
                reached: reached_tx,
                release: release_rx,
            });
        }
        Paused {
            reached: reached_rx,
            release: Some(release_tx),
        }
    }

    /// Called by the engine at `step`.
    pub async fn at(&self, step: &str) {
        // Read once per process: pause points sit on hot paths (every PATCH passes two).
        static STOP_AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let stop_at = STOP_AT.get_or_init(|| std::env::var("ROTAD_TEST_PAUSE_AT").ok());
        if stop_at.as_deref() == Some(step) {
            eprintln!("rotad: paused at {step}");
            std::future::pending::<()>().await;
        }
        let hit = match self.armed.lock() {
            Ok(mut armed) => armed
                .iter()
                .position(|a| a.step == step)
                .map(|i| armed.remove(i)),
            Err(_) => None,
        };
        if let Some(hit) = hit {
            let _ = hit.reached.send(());
            let _ = hit.release.await;
        }
    }
}
