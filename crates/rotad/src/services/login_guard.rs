//! Guards on universal-auth login (docs/SECURITY.md, "Login"): a cap on concurrent password
//! hashing, throttles on failed logins per client id and per source address, and the same work
//! for an unknown client id as for a wrong secret.
//!
//! A login runs one Argon2id check per active client secret (about 19 MiB and tens of
//! milliseconds each, on purpose). Unbounded, a flood of bad logins commits gigabytes and starves
//! the rest of the server; so hashing runs on one thread per core, one attempt at a time per
//! client id, and a
//! client id or address with too many recent failures is answered 429 with `Retry-After` before
//! any hashing. The throttles are per replica; the lockout of a client id (persisted with its
//! universal auth) holds across replicas.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// Failed logins per client id within [`WINDOW`] before 429.
const PER_CLIENT: u32 = 10;
/// Failed logins per source address within [`WINDOW`] before 429.
const PER_ADDRESS: u32 = 30;
/// The sliding window of the throttles.
const WINDOW: Duration = Duration::from_secs(60);
/// Entries kept before old ones are dropped (bounds the guard's memory).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failed attempts since `since`.
    count: u32,
    /// Attempts under way: they count against the limit until they end, so a burst of
    /// concurrent attempts cannot all pass the check before the first one fails.
    pending: u32,
    since: Instant,
}

/// Password hashing on a few long-lived threads, one per core: at most that many hashes run at
/// once, and each thread reuses its own memory. (Argon2id takes 19 MiB a hash; spread over ever
/// new blocking threads, the allocator keeps that much per thread: a flood of 600 bad logins
/// peaked at 237 MB that way.)
struct HashPool {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl HashPool {
    fn new(threads: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rotad-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // The pool is gone.
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a password-hashing thread");
            }
        }
        Self {
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `work` on the pool and waits for its result.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        rx.await.ok()
    }
}

/// The process-wide guard.
pub struct LoginGuard {
    hashing: HashPool,
    failures: Mutex<HashMap<String, Failures>>,
    /// One turn at a time per client id: a flood of one client id queues behind itself and
    /// holds at most one hashing permit, so other identities' logins are not held up.
    turns: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            hashing: HashPool::new(cores),
            failures: Mutex::default(),
            turns: Mutex::default(),
        }
    }
}

fn client_key(client_id: &str) -> String {
    format!("client:{client_id}")
}

fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

/// The 429 a throttled login gets; `Retry-After` is set from it by the error envelope.
pub fn throttled(retry_after: Duration) -> Error {
    Error::TooManyRequests {
        message: "Too many failed login attempts; try again later".to_string(),
        retry_after_secs: retry_after.as_secs().max(1),
    }
}

/// One login attempt under way; it ends as a failure, a success, or (dropped) neither.
pub struct Attempt<'a> {
    guard: &'a LoginGuard,
    keys: [String; 2],
    turn: Arc<Semaphore>,
    ended: bool,
}

impl Attempt<'_> {
    /// Waits for this client id's turn to check secrets (held while the guard is alive).
    pub async fn turn(&self) -> Option<OwnedSemaphorePermit> {
        self.turn.clone().acquire_owned().await.ok()
    }

    /// Counts the attempt as a failed login.
    pub fn failed(mut self) {
        self.end(Some(false));
    }

    /// A good login: the client id's failures are forgotten.
    pub fn succeeded(mut self) {
        self.end(Some(true));
    }

    fn end(&mut self, outcome: Option<bool>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Ok(mut turns) = self.guard.turns.lock() {
            // The map's and this attempt's references: nobody else waits for this client id.
            if Arc::strong_count(&self.turn) <= 2 {
                turns.remove(&self.keys[0]);
            }
        }
        let Ok(mut failures) = self.guard.failures.lock() else {
            return;
        };
        for (i, key) in self.keys.iter().enumerate() {
            let Some(entry) = failures.get_mut(key) else {
                continue;
            };
            entry.pending = entry.pending.saturating_sub(1);
            match outcome {
                Some(false) => entry.count += 1,
                // Only the client id is cleared by a success; the address keeps its count.
                Some(true) if i == 0 => entry.count = 0,
                _ => {}
            }
            if entry.count == 0 && entry.pending == 0 {
                failures.remove(key);
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.end(None);
    }
}

impl LoginGuard {
    /// Starts an attempt for `client_id` from `address`, or refuses it (429) when recent
    /// failures and attempts still running reach a limit.
    pub fn begin(&self, client_id: &str, address: &str) -> Result<Attempt<'_>> {
        let keys = [client_key(client_id), address_key(address)];
        let turn = match self.turns.lock() {
            Ok(mut turns) => turns
                .entry(keys[0].clone())
                .or_insert_with(|| Arc::new(Semaphore::new(1)))
                .clone(),
            Err(_) => Arc::new(Semaphore::new(1)),
        };
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(Attempt {
                guard: self,
                keys,
                turn,
                ended: true,
            });
        };
        let now = Instant::now();
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| f.pending > 0 || now.duration_since(f.since) < WINDOW);
        }
        for (key, limit) in keys.iter().zip([PER_CLIENT, PER_ADDRESS]) {
            if let Some(f) = failures.get_mut(key) {
                let age = now.duration_since(f.since);
                if age >= WINDOW {
                    f.count = 0;
                    f.since = now;
                } else if f.count + f.pending >= limit {
                    return Err(throttled(WINDOW - age));
                }
            }
        }
        for key in &keys {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                pending: 0,
                since: now,
            });
            entry.pending += 1;
        }
        Ok(Attempt {
            guard: self,
            keys,
            turn,
            ended: false,
        })
    }

    /// Checks `secret` against an Argon2id `hash` on the hashing pool.
    pub async fn verify(&self, secret: &str, hash: &str) -> bool {
        let (secret, hash) = (secret.to_string(), hash.to_string());
        self.hashing
            .run(move || verify_reusing_memory(secret.as_bytes(), &hash))
            .await
            .unwrap_or(false)
    }

    /// An Argon2id hash of a new client secret, on the hashing pool.
    pub async fn hash(&self, secret: String) -> Result<String> {
        self.hashing
            .run(move || {
                let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
                Argon2::default()
                    .hash_password(secret.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| Error::Unexpected(anyhow::anyhow!("hashing failed: {e}")))
            })
            .await
            .unwrap_or_else(|| Err(Error::Unexpected(anyhow::anyhow!("hashing pool is gone"))))
    }

    /// The same work as one [`LoginGuard::verify`] that fails: for an unknown client id, so
    /// its answer takes as long as a wrong secret's.
    pub async fn verify_nothing(&self, secret: &str) {
        let _ = self.verify(secret, dummy_hash()).await;
    }
}

thread_local! {
    /// The Argon2 working memory of this hashing thread, reused by every check it runs. A fresh
    /// 19 MiB buffer per check fragments the allocator's heap: resident memory then grows by
    /// about that much per failed login.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Checks `secret` against a PHC-format Argon2 `hash`, in this thread's reused memory. The
/// comparison of the outputs is constant-time.
fn verify_reusing_memory(secret: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    let computed = BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), Block::default());
        }
        hasher.hash_password_into_with_memory(
            secret,
            salt,
            &mut out,
            &mut blocks[..params.block_count()],
        )
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash no secret matches, made once.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_throttled_after_its_failures() {
        let guard = LoginGuard::default();
        for _ in 0..PER_CLIENT {
            guard.begin("c1", "10.0.0.1").expect("allowed").failed();
        }
        assert!(matches!(
            guard.begin("c1", "10.0.0.2"),
            Err(Error::TooManyRequests { .. })
        ));
        assert!(guard.begin("c2", "10.0.0.2").is_ok(), "another client id");
    }

    #[test]
    fn concurrent_attempts_count_before_they_fail() {
        let guard = LoginGuard::default();
        let running: Vec<_> = (0..PER_CLIENT)
            .map(|_| guard.begin("c1", "10.0.0.1").expect("allowed"))
            .collect();
        assert!(guard.begin("c1", "10.0.0.3").is_err(), "a burst is capped");
        drop(running);
        assert!(
            guard.begin("c1", "10.0.0.3").is_ok(),
            "unfinished attempts end"
        );
    }

    #[test]
    fn a_success_clears_the_client_id() {
        let guard = LoginGuard::default();
        for _ in 0..PER_CLIENT - 1 {
            guard.begin("c1", "10.0.0.1").expect("allowed").failed();
        }
        guard.begin("c1", "10.0.0.1").expect("allowed").succeeded();
        for _ in 0..PER_CLIENT - 1 {
            guard.begin("c1", "10.0.0.1").expect("allowed").failed();
        }
        assert!(guard.begin("c1", "10.0.0.1").is_ok());
    }

    #[test]
    fn an_address_is_throttled_across_client_ids() {
        let guard = LoginGuard::default();
        for i in 0..PER_ADDRESS {
            guard
                .begin(&format!("client-{i}"), "10.0.0.9")
                .expect("allowed")
                .failed();
        }
        assert!(matches!(
            guard.begin("fresh", "10.0.0.9"),
            Err(Error::TooManyRequests { .. })
        ));
        assert!(guard.begin("fresh", "10.0.0.10").is_ok());
    }
}
