//! The emulator's in-memory state. One mutex; it is never held across an await.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::fault::{Fault, Operation};
use crate::model::{
    new_token_string, split_token_string, Account, Grant, Project, StoredGrant, Token, TokenInfo,
    STATE_ACTIVE, STATE_DELETED,
};

const FIRST_TOKEN_ID: i64 = 1000;
const FIRST_PERMISSION_ID: i64 = 5000;

/// Name of the seeded admin token.
pub const ADMIN_TOKEN_NAME: &str = "emulator-admin";

/// Everything the emulator knows; shared by the HTTP handlers and the [`crate::Emulator`] handle.
#[derive(Debug)]
pub(crate) struct SharedState {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    account: Account,
    tokens: BTreeMap<i64, Token>,
    by_token_string: HashMap<String, i64>,
    next_token_id: i64,
    next_permission_id: i64,
    projects: Vec<Project>,
    faults: VecDeque<Fault>,
    latency: Duration,
    calls: HashMap<Operation, u64>,
    creates_in_flight: HashMap<String, u32>,
    max_creates_in_flight: HashMap<String, u32>,
}

/// Result of a token deletion.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DeleteOutcome {
    Deleted,
    NotFound,
}

impl SharedState {
    pub fn new(account_id: i64, account_name: String, latency: Duration) -> Arc<Self> {
        let now = Utc::now();
        let projects = [
            (101, "Analytics", Some("Core analytics models")),
            (102, "Marketing", None),
            (103, "Finance", Some("Month-end reporting")),
        ]
        .into_iter()
        .map(|(id, name, description)| Project {
            id,
            account_id,
            name: name.to_owned(),
            description: description.map(str::to_owned),
            created_at: now,
        })
        .collect();
        Arc::new(Self {
            inner: Mutex::new(Inner {
                account: Account {
                    id: account_id,
                    name: account_name,
                    created_at: now,
                },
                tokens: BTreeMap::new(),
                by_token_string: HashMap::new(),
                next_token_id: FIRST_TOKEN_ID,
                next_permission_id: FIRST_PERMISSION_ID,
                projects,
                faults: VecDeque::new(),
                latency,
                calls: HashMap::new(),
                creates_in_flight: HashMap::new(),
                max_creates_in_flight: HashMap::new(),
            }),
        })
    }

    /// Locks the state. A panic while holding the lock cannot leave it half-updated in a way
    /// that matters for a test fake, so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` with the account, the tokens and the projects, under the lock.
    pub fn with_data<R>(&self, f: impl FnOnce(&mut Data<'_>) -> R) -> R {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut data = Data {
            account: &inner.account,
            tokens: &mut inner.tokens,
            by_token_string: &mut inner.by_token_string,
            next_token_id: &mut inner.next_token_id,
            next_permission_id: &mut inner.next_permission_id,
            projects: &inner.projects,
        };
        f(&mut data)
    }

    pub fn account_id(&self) -> i64 {
        self.lock().account.id
    }

    // ---- calls, latency and faults ----

    pub fn record_call(&self, op: Operation) {
        *self.lock().calls.entry(op).or_insert(0) += 1;
    }

    pub fn calls(&self, op: Operation) -> u64 {
        let inner = self.lock();
        match op {
            Operation::Any => inner.calls.values().sum(),
            op => inner.calls.get(&op).copied().unwrap_or(0),
        }
    }

    pub fn reset_calls(&self) {
        let mut inner = self.lock();
        inner.calls.clear();
        inner.max_creates_in_flight.clear();
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().faults.push_back(fault);
        }
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Consumes one strike of the oldest armed fault matching `op`, if any.
    pub fn take_fault(&self, op: Operation) -> Option<Fault> {
        let mut inner = self.lock();
        let index = inner.faults.iter().position(|f| f.operation.matches(op))?;
        let armed = inner.faults.get_mut(index)?;
        armed.times = armed.times.saturating_sub(1);
        let strike = Fault {
            times: 1,
            ..armed.clone()
        };
        if armed.times == 0 {
            inner.faults.remove(index);
        }
        Some(strike)
    }

    // ---- create concurrency tracking ----

    pub fn begin_create(self: &Arc<Self>, name: &str) -> CreateGuard {
        let mut inner = self.lock();
        for family in families(name) {
            let in_flight = inner
                .creates_in_flight
                .entry(family.to_owned())
                .or_insert(0);
            *in_flight += 1;
            let now = *in_flight;
            let max = inner
                .max_creates_in_flight
                .entry(family.to_owned())
                .or_insert(0);
            *max = (*max).max(now);
        }
        CreateGuard {
            state: Arc::clone(self),
            name: name.to_owned(),
        }
    }

    pub fn max_concurrent_creates(&self, name: &str) -> u32 {
        self.lock()
            .max_creates_in_flight
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    pub fn all_max_concurrent_creates(&self) -> BTreeMap<String, u32> {
        self.lock()
            .max_creates_in_flight
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    fn end_create(&self, name: &str) {
        let mut inner = self.lock();
        for family in families(name) {
            if let Some(in_flight) = inner.creates_in_flight.get_mut(family) {
                *in_flight = in_flight.saturating_sub(1);
                if *in_flight == 0 {
                    inner.creates_in_flight.remove(family);
                }
            }
        }
    }

    // ---- harness views ----

    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.lock().tokens.values().map(Token::info).collect()
    }
}

/// Marks one create call as in flight until dropped.
#[derive(Debug)]
pub(crate) struct CreateGuard {
    state: Arc<SharedState>,
    name: String,
}

impl Drop for CreateGuard {
    fn drop(&mut self) {
        self.state.end_create(&self.name);
    }
}

/// The dbt-visible data, borrowed under the lock.
pub(crate) struct Data<'a> {
    pub account: &'a Account,
    tokens: &'a mut BTreeMap<i64, Token>,
    by_token_string: &'a mut HashMap<String, i64>,
    next_token_id: &'a mut i64,
    next_permission_id: &'a mut i64,
    pub projects: &'a [Project],
}

impl Data<'_> {
    /// The live token with this secret, marked as used.
    pub fn authenticate(&mut self, token_string: &str, now: DateTime<Utc>) -> Option<Token> {
        let id = self.by_token_string.get(token_string)?;
        let token = self.tokens.get_mut(id)?;
        if token.state != STATE_ACTIVE {
            return None;
        }
        token.last_used = Some(now);
        Some(token.clone())
    }

    /// Creates a token. With `token_string`, uses that secret instead of minting one.
    pub fn create(
        &mut self,
        name: &str,
        grants: Vec<(Grant, Vec<String>)>,
        token_string: Option<&str>,
    ) -> Token {
        let (uid, secret, token_string) = match token_string {
            Some(given) => {
                let (uid, secret) = split_token_string(given);
                (uid, secret, given.to_owned())
            }
            None => new_token_string(),
        };
        let id = *self.next_token_id;
        *self.next_token_id += 1;
        let grants = grants
            .into_iter()
            .map(|(grant, writable_environment_categories)| {
                let permission_row_id = *self.next_permission_id;
                *self.next_permission_id += 1;
                StoredGrant {
                    grant,
                    writable_environment_categories,
                    permission_row_id,
                }
            })
            .collect();
        let now = Utc::now();
        let token = Token {
            id,
            account_id: self.account.id,
            name: name.to_owned(),
            uid,
            secret,
            token_string: token_string.clone(),
            state: STATE_ACTIVE,
            grants,
            created_at: now,
            updated_at: now,
            last_used: None,
        };
        self.by_token_string.insert(token_string, id);
        self.tokens.insert(id, token.clone());
        token
    }

    pub fn get(&self, id: i64) -> Option<&Token> {
        self.tokens.get(&id)
    }

    /// Tokens with `state` (all states when `None`), ordered by id.
    pub fn list(&self, state: Option<i32>) -> Vec<&Token> {
        self.tokens
            .values()
            .filter(|t| state.is_none_or(|s| t.state == s))
            .collect()
    }

    pub fn rename(&mut self, id: i64, name: &str) -> Option<Token> {
        let token = self.tokens.get_mut(&id)?;
        if token.state != STATE_ACTIVE {
            return None;
        }
        token.name = name.to_owned();
        token.updated_at = Utc::now();
        Some(token.clone())
    }

    /// Soft-deletes a live token; an unknown or already deleted one is not found.
    pub fn delete(&mut self, id: i64) -> DeleteOutcome {
        match self.tokens.get_mut(&id) {
            Some(token) if token.state == STATE_ACTIVE => {
                token.state = STATE_DELETED;
                token.updated_at = Utc::now();
                DeleteOutcome::Deleted
            }
            _ => DeleteOutcome::NotFound,
        }
    }
}

/// The names a create counts under: the name itself and each of its prefixes that ends before
/// a `-`, so `nightly-token-3f2504e04f89` also counts for `nightly-token` and `nightly` (a
/// client that suffixes its token names is still seen per base name).
fn families(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('-')
        .map(move |(i, _)| &name[..i])
        .chain(std::iter::once(name))
}
