//! Rows as the store hands them to services. Times are Unix milliseconds (UTC).

use sqlx::FromRow;

#[derive(Debug, Clone, FromRow)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Identity {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub org_role: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct UniversalAuth {
    pub identity_id: String,
    pub client_id: String,
    pub access_token_ttl: i64,
    pub access_token_max_ttl: i64,
    pub access_token_num_uses_limit: i64,
    /// JSON array of `{ipAddress}` objects: where its access tokens may be used from.
    pub trusted_ips: String,
    /// JSON array of `{ipAddress}` objects: where a login may come from.
    pub client_secret_trusted_ips: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ClientSecret {
    pub id: String,
    pub identity_id: String,
    pub description: String,
    pub prefix: String,
    /// Argon2id PHC string; the secret itself is never stored.
    pub hash: String,
    pub ttl: i64,
    pub num_uses_limit: i64,
    pub num_uses: i64,
    pub revoked: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct AccessToken {
    pub id: String,
    pub identity_id: String,
    pub auth_method: String,
    pub ttl: i64,
    pub max_ttl: i64,
    /// `None` for tokens that do not expire (the bootstrap token).
    pub expires_at: Option<i64>,
    pub revoked: bool,
    pub created_at: i64,
    pub last_renewed_at: Option<i64>,
    /// Authenticated requests allowed with this token; 0 is no limit.
    pub num_uses_limit: i64,
    pub num_uses: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Project {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Environment {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub slug: String,
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Folder {
    pub id: String,
    pub project_id: String,
    pub env_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    /// Absolute path, `/` for the root folder of an environment.
    pub path: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct Membership {
    pub id: String,
    pub project_id: String,
    pub identity_id: String,
    /// The first role's slug (the only one of rows written before `roles`).
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of every role with its expiry (`services::authz::MemberRole`).
    pub roles: String,
}

/// A secret with its value and comment sealed by the project's data key.
#[derive(Debug, Clone, FromRow)]
pub struct SecretRow {
    pub id: String,
    pub project_id: String,
    pub env_id: String,
    pub folder_id: String,
    pub key: String,
    pub secret_type: String,
    pub version: i64,
    pub value: Vec<u8>,
    pub comment: Vec<u8>,
    pub skip_multiline: bool,
    pub rotation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of the ids of the secret's tags.
    #[sqlx(default)]
    pub tag_ids: String,
}

/// A past value of a secret, sealed with the version row's id as associated data.
#[derive(Debug, Clone, FromRow)]
pub struct SecretVersionRow {
    pub id: String,
    pub secret_id: String,
    pub version: i64,
    pub key: String,
    pub value: Vec<u8>,
    pub comment: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub org_id: String,
    pub project_id: Option<String>,
    pub event_type: String,
    /// JSON `{type, metadata}`.
    pub actor: String,
    /// JSON object.
    pub metadata: String,
    pub ip_address: String,
    pub user_agent: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub org_id: String,
    pub project_id: Option<String>,
    pub event_types: Vec<String>,
    /// The actor's `type` (`identity`, `platform`, ...).
    pub actor_type: Option<String>,
    /// The acting identity's (or user's) id.
    pub actor_id: Option<String>,
    /// The kind of client (`cli`, `web`, `InfisicalPythonSDK`, ... `other`).
    pub user_agent_type: Option<String>,
    /// Top-level keys of the event's metadata and the text each must equal (`true`/`false`
    /// for booleans, digits for numbers). Keys are letters, digits, `_` and `-` only.
    pub metadata: Vec<(String, String)>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub offset: i64,
    pub limit: i64,
    /// Leaves out read events (types starting `get-`).
    pub without_reads: bool,
}

/// An app connection with its credentials sealed by the organization's data key
/// (`<id>:credentials` as associated data).
#[derive(Debug, Clone, FromRow)]
pub struct AppConnectionRow {
    pub id: String,
    pub org_id: String,
    /// `None` for a connection of the whole organization.
    pub project_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub app: String,
    pub method: String,
    pub credentials: Vec<u8>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of the permission sets its tokens may get; `None` is the default list.
    pub allowed_permission_sets: Option<String>,
}

/// A secret rotation. Credentials and the last message are sealed with the project's data key.
#[derive(Debug, Clone, FromRow)]
pub struct RotationRow {
    pub id: String,
    pub org_id: String,
    pub project_id: String,
    pub env_id: String,
    pub folder_id: String,
    pub connection_id: String,
    pub name: String,
    pub description: Option<String>,
    pub rotation_type: String,
    pub parameters: String,
    pub secrets_mapping: String,
    pub credentials: Vec<u8>,
    pub active_index: i64,
    pub is_auto_rotation_enabled: bool,
    pub rotation_interval: i64,
    pub rotate_at_hours: i64,
    pub rotate_at_minutes: i64,
    pub rotation_status: String,
    pub last_rotation_attempted_at: i64,
    pub last_rotated_at: i64,
    pub last_rotation_job_id: Option<String>,
    pub last_rotation_message: Option<Vec<u8>>,
    pub next_rotation_at: Option<i64>,
    pub is_last_rotation_manual: bool,
    pub failed_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every write of the rotation's content; writes are fenced on it.
    pub version: i64,
}

/// The secret a rotation publishes, as its commit needs it.
#[derive(Debug, Clone)]
pub struct PublishedSecret {
    pub id: String,
    pub key: String,
    pub version: i64,
    /// Sealed (`<id>:comment`).
    pub comment: Vec<u8>,
}

/// A rotation as the engine reads it under its lease, with what one pass needs beside the row,
/// all read by the one statement that takes the lease (the scheduler's claim, a manual
/// rotation's lease) or reads the row under it (docs/ARCHITECTURE.md, "The engine").
#[derive(Debug, Clone)]
pub struct LeasedRotation {
    pub row: RotationRow,
    /// Whether intents are left (an earlier executor's, to settle first).
    pub has_intents: bool,
    /// The version of the rotation's connection (`None` when it is gone).
    pub connection_version: Option<i64>,
    /// Whether enabled webhooks exist in the rotation's environment.
    pub has_webhooks: bool,
    /// A secret the rotation publishes, the first by key (`None` when no secret carries the
    /// rotation's id); a rotation publishing one secret (dbt) needs no other read.
    pub secret: Option<PublishedSecret>,
}

/// The new value of a rotation's published secret, written by its commit.
#[derive(Debug, Clone)]
pub struct RotatedSecret {
    pub id: String,
    /// The version the commit was computed from; the write is fenced on it.
    pub expected_version: i64,
    /// Sealed (`<id>:value`).
    pub value: Vec<u8>,
    pub updated_at: i64,
    /// The version row; its `version` is the secret's new version.
    pub version: SecretVersionRow,
}

/// An issuance in flight (docs/ARCHITECTURE.md, "The engine").
#[derive(Debug, Clone, FromRow)]
pub struct IntentRow {
    pub id: String,
    pub rotation_id: String,
    pub project_id: String,
    pub connection_id: String,
    pub token_name: String,
    pub started_at: i64,
    /// The new credential, sealed, once the provider has issued it.
    pub credential: Option<Vec<u8>>,
    pub created_at: i64,
    /// When it was first swept; from then on nothing may attach a credential to it or
    /// publish from it, and it waits only for its final sweep.
    pub swept_at: Option<i64>,
    /// Where its credential is minted (the provider's target), for its sweeps.
    pub target: String,
}

/// A credential waiting for the provider to confirm its revocation.
#[derive(Debug, Clone, FromRow)]
pub struct RevocationRow {
    pub id: String,
    pub rotation_id: String,
    pub connection_id: String,
    /// The provider's id of the credential (dbt's token id); never the secret itself.
    pub credential_id: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    /// Where the credential lives (the provider's target when it was minted); empty when
    /// unknown. The worker revokes only through a provider with this target.
    pub target: String,
}

/// A new secret version written in the same transaction as a rotation change.
#[derive(Debug, Clone)]
pub struct SecretWrite {
    pub secret: SecretRow,
    pub expected_version: i64,
    pub version: SecretVersionRow,
}

/// Step 4 of the engine, applied in one transaction.
#[derive(Debug, Clone)]
pub struct RotationCommit {
    pub rotation_id: String,
    pub lease_owner: String,
    pub credentials: Vec<u8>,
    pub active_index: i64,
    pub rotated_at: i64,
    pub next_rotation_at: Option<i64>,
    pub is_manual: bool,
    pub job_id: Option<String>,
    /// The published secrets' new values (one per `secretsMapping` field).
    pub secrets: Vec<RotatedSecret>,
    pub revocation: Option<RevocationRow>,
    pub intent_id: String,
    /// The row version the commit was computed from.
    pub expected_version: i64,
    /// Whether the commit also hands the lease back (the last write of a rotation attempt).
    pub release_lease: bool,
    pub trail: Trail,
}

/// The audit entries and webhook deliveries that describe a change, written in the change's
/// own transaction: a crash loses both with the change or neither (docs/ARCHITECTURE.md).
#[derive(Debug, Clone, Default)]
pub struct Trail {
    pub audit: Vec<AuditRow>,
    pub deliveries: Vec<crate::store::DeliveryRow>,
}

/// A rotation deleted under its lease, with its slot tokens queued for revocation in the same
/// transaction (nothing is revoked while the rotation still exists).
#[derive(Debug, Clone)]
pub struct RotationDelete {
    pub rotation_id: String,
    pub lease_owner: String,
    pub expected_version: i64,
    pub delete_secrets: bool,
    pub revocations: Vec<RevocationRow>,
    pub trail: Trail,
}

/// A failed attempt: status, message and schedule, credentials untouched; the lease is handed
/// back in the same write.
#[derive(Debug, Clone)]
pub struct RotationFailure {
    pub rotation_id: String,
    pub lease_owner: String,
    pub final_attempt: bool,
    pub message: Vec<u8>,
    pub attempted_at: i64,
    pub next_rotation_at: Option<i64>,
    pub failed_attempts: i64,
    pub job_id: Option<String>,
    pub trail: Trail,
}

/// One folder's new name (and so its path and its subtree's) and description.
#[derive(Debug, Clone)]
pub struct FolderUpdate {
    pub id: String,
    pub env_id: String,
    pub old_path: String,
    pub new_path: String,
    pub name: String,
    pub description: Option<String>,
    pub updated_at: i64,
}

/// What an environment holds, counted (an environment is deleted only when empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvironmentContents {
    pub secrets: i64,
    /// Folders other than the root.
    pub folders: i64,
    pub rotations: i64,
}
