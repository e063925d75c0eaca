//! Fault injection: what can go wrong, for which operation, how many times, and when.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One kind of dbt Cloud API call, as seen by the emulator.
///
/// Faults target an operation, and calls are counted per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `GET /api/v2/accounts/{id}/`, `GET /api/v2/accounts/`, `GET /api/v3/accounts/`.
    AccountGet,
    /// `POST /api/v3/accounts/{id}/service-tokens/`.
    TokenCreate,
    /// `GET /api/v3/accounts/{id}/service-tokens/{tid}/` and its `/permissions/` sub-resource.
    TokenGet,
    /// `GET /api/v3/accounts/{id}/service-tokens/`.
    TokenList,
    /// `PUT /api/v3/accounts/{id}/service-tokens/{tid}/` (rename).
    TokenUpdate,
    /// `DELETE /api/v3/accounts/{id}/service-tokens/{tid}/`.
    TokenDelete,
    /// `GET /api/v3/accounts/{id}/projects/`.
    ProjectList,
    /// Matches every operation when injecting a fault; the total when counting calls.
    Any,
}

impl Operation {
    /// Every concrete operation (all but [`Operation::Any`]).
    pub const CONCRETE: [Operation; 7] = [
        Operation::AccountGet,
        Operation::TokenCreate,
        Operation::TokenGet,
        Operation::TokenList,
        Operation::TokenUpdate,
        Operation::TokenDelete,
        Operation::ProjectList,
    ];

    /// Whether a fault aimed at `self` applies to a call of `call`.
    pub fn matches(self, call: Operation) -> bool {
        self == Operation::Any || self == call
    }
}

/// What the emulator does instead of (or on top of) answering normally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this HTTP status and a dbt-style JSON envelope.
    Status { code: u16 },
    /// Answer with this HTTP status and an HTML body, as a gateway would.
    Html { code: u16 },
    /// Wait this long; the call then proceeds normally.
    Delay {
        #[serde(rename = "ms", with = "duration_ms")]
        duration: Duration,
    },
    /// Close the connection without sending any response.
    Drop,
    /// Answer 429 with a `Retry-After: <secs>` header.
    RateLimited { retry_after_secs: u64 },
}

/// When the fault strikes relative to the operation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTiming {
    /// The operation does not happen; the fault is the whole answer.
    #[default]
    Before,
    /// The operation is performed (e.g. the token *is* created), then the fault replaces
    /// (or, for a delay, postpones) the response: a lost response.
    After,
}

/// A fault armed for the next `times` calls of `operation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub operation: Operation,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub timing: FaultTiming,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault of any kind, once, before the operation.
    pub fn new(operation: Operation, kind: FaultKind) -> Self {
        Self {
            operation,
            kind,
            times: 1,
            timing: FaultTiming::Before,
        }
    }

    /// Answer `code` with a JSON envelope.
    pub fn status(operation: Operation, code: u16) -> Self {
        Self::new(operation, FaultKind::Status { code })
    }

    /// Answer `code` with an HTML body.
    pub fn html(operation: Operation, code: u16) -> Self {
        Self::new(operation, FaultKind::Html { code })
    }

    /// Delay the call by `duration`.
    pub fn delay(operation: Operation, duration: Duration) -> Self {
        Self::new(operation, FaultKind::Delay { duration })
    }

    /// Close the connection without answering.
    pub fn drop(operation: Operation) -> Self {
        Self::new(operation, FaultKind::Drop)
    }

    /// Answer 429 with `Retry-After: <retry_after_secs>`.
    pub fn rate_limited(operation: Operation, retry_after_secs: u64) -> Self {
        Self::new(operation, FaultKind::RateLimited { retry_after_secs })
    }

    /// Strike the next `times` matching calls instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Perform the operation first, then replace (or postpone) its response.
    pub fn after(mut self) -> Self {
        self.timing = FaultTiming::After;
        self
    }

    /// Strike before the operation happens (the default).
    pub fn before(mut self) -> Self {
        self.timing = FaultTiming::Before;
        self
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let ms = u64::try_from(value.as_millis()).unwrap_or(u64::MAX);
        serializer.serialize_u64(ms)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_round_trips() {
        let fault = Fault::delay(Operation::TokenCreate, Duration::from_millis(250))
            .times(3)
            .after();
        let json = serde_json::to_value(&fault).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({
                "operation": "token_create",
                "kind": {"type": "delay", "ms": 250},
                "times": 3,
                "timing": "after"
            })
        );
        let back: Fault = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, fault);
    }

    #[test]
    fn times_and_timing_default_when_omitted() {
        let fault: Fault = serde_json::from_value(serde_json::json!({
            "operation": "any",
            "kind": {"type": "rate_limited", "retry_after_secs": 2}
        }))
        .expect("deserialize");
        assert_eq!(fault, Fault::rate_limited(Operation::Any, 2));
        assert!(fault.operation.matches(Operation::TokenList));
        assert!(!Operation::TokenGet.matches(Operation::TokenList));
    }
}
