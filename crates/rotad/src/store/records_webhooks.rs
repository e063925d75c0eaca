//! Rows of the scheduler and the webhooks. Times are Unix milliseconds (UTC).

use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub project_id: String,
    pub env_id: String,
    pub secret_path: String,
    /// Sealed URL.
    pub url: Vec<u8>,
    /// Sealed HMAC key, when one was given.
    pub secret_key: Option<Vec<u8>>,
    pub webhook_type: String,
    pub is_disabled: bool,
    pub last_status: Option<String>,
    pub last_run_error_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One event waiting for one webhook.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    /// The JSON body sent (no secret values).
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// What the scheduler's gauges show.
#[derive(Debug, Clone, Default)]
pub struct ScheduleStats {
    /// Auto-rotations whose time has come.
    pub due: i64,
    /// The oldest `next_rotation_at` among them.
    pub oldest_due_at: Option<i64>,
    /// Entries in the revocation queue.
    pub revocations: i64,
    /// Webhook deliveries waiting.
    pub deliveries: i64,
}
