//! Persistence behind one trait. Services see domain-shaped methods; the SQL lives in [`sql`],
//! written once for both backends, with the few real differences in [`Dialect`].

pub mod changes;
mod records;
mod records_reads;
mod records_secrets;
mod records_sessions;
mod records_webhooks;
mod sql;

use async_trait::async_trait;

pub use records::*;
pub use records_reads::*;
pub use records_secrets::*;
pub use records_sessions::*;
pub use records_webhooks::*;
pub use sql::{connect, create_private_dir, SqlStore, WRITER_TRIP_TARGET};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A fenced write found the rotation row at another version (or under another lease).
pub const ROTATION_CHANGED: &str = "rotation changed concurrently";
/// A fenced secret write found the secret at another version.
pub const SECRET_CHANGED: &str = "secret changed concurrently";
/// The intent a write depended on was settled (swept or consumed) elsewhere.
pub const INTENT_SETTLED: &str = "rotation intent settled elsewhere";

#[async_trait]
pub trait MetaStore: Send + Sync {
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` unless it is present; returns whether it was set.
    async fn set_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
    async fn get_data_key(&self, scope: &str) -> StoreResult<Option<(String, Vec<u8>)>>;
    /// Inserts a wrapped data key unless the scope has one already.
    async fn insert_data_key(&self, scope: &str, id: &str, wrapped: &[u8]) -> StoreResult<()>;
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pools: from this call on every statement fails at once. Connections in use
    /// finish what they are doing and are closed when handed back (shutdown, tests).
    fn close(&self);
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Creates the organization and its first admin identity with a token, once per instance.
    async fn bootstrap(
        &self,
        org: &Organization,
        identity: &Identity,
        token: &AccessToken,
    ) -> StoreResult<()>;
    async fn get_organization(&self, id: &str) -> StoreResult<Option<Organization>>;
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()>;
    async fn get_identity(&self, id: &str) -> StoreResult<Option<Identity>>;
    async fn list_identities(&self, org_id: &str) -> StoreResult<Vec<Identity>>;
    async fn update_identity(&self, identity: &Identity) -> StoreResult<()>;
    async fn delete_identity(&self, id: &str) -> StoreResult<bool>;

    /// Attaches universal auth; false (nothing written) when the identity already has it.
    async fn insert_universal_auth(&self, ua: &UniversalAuth) -> StoreResult<bool>;
    /// Replaces the settings (never the client id); false when the identity has none.
    async fn update_universal_auth(&self, ua: &UniversalAuth) -> StoreResult<bool>;
    /// Detaches universal auth, revoking its client secrets and its access tokens in the same
    /// transaction; false when the identity had none.
    async fn delete_universal_auth(&self, identity_id: &str) -> StoreResult<bool>;
    async fn get_universal_auth(&self, identity_id: &str) -> StoreResult<Option<UniversalAuth>>;
    async fn get_universal_auth_by_client_id(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<UniversalAuth>>;
    async fn create_client_secret(&self, secret: &ClientSecret) -> StoreResult<()>;
    async fn list_client_secrets(&self, identity_id: &str) -> StoreResult<Vec<ClientSecret>>;
    /// Counts one use; false when the use limit is reached.
    async fn use_client_secret(&self, id: &str) -> StoreResult<bool>;
    async fn revoke_client_secret(&self, identity_id: &str, id: &str) -> StoreResult<bool>;

    async fn create_access_token(&self, token: &AccessToken) -> StoreResult<()>;
    async fn get_access_token(&self, id: &str) -> StoreResult<Option<AccessToken>>;
    /// Counts one use of a token with a uses limit; false once the limit is reached.
    async fn use_access_token(&self, id: &str) -> StoreResult<bool>;
    async fn renew_access_token(&self, id: &str, expires_at: i64, now: i64) -> StoreResult<()>;
    async fn revoke_access_token(&self, id: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Creates a project with its environments, their root folders and the creator's membership.
    async fn create_project(
        &self,
        project: &Project,
        environments: &[Environment],
        root_folders: &[Folder],
        membership: Option<&Membership>,
    ) -> StoreResult<()>;
    async fn get_project(&self, id: &str) -> StoreResult<Option<Project>>;
    async fn get_project_by_slug(&self, org_id: &str, slug: &str) -> StoreResult<Option<Project>>;
    async fn list_projects(&self, org_id: &str) -> StoreResult<Vec<Project>>;
    async fn delete_project(&self, id: &str) -> StoreResult<bool>;
    async fn list_environments(&self, project_id: &str) -> StoreResult<Vec<Environment>>;

    async fn create_folder(&self, folder: &Folder) -> StoreResult<()>;
    async fn get_folder(&self, id: &str) -> StoreResult<Option<Folder>>;
    async fn get_folder_by_path(&self, env_id: &str, path: &str) -> StoreResult<Option<Folder>>;
    async fn list_child_folders(&self, parent_id: &str) -> StoreResult<Vec<Folder>>;
    /// The folder and every folder below it.
    async fn list_folder_tree(&self, env_id: &str, path: &str) -> StoreResult<Vec<Folder>>;
    async fn delete_folder(&self, id: &str) -> StoreResult<bool>;

    async fn upsert_membership(&self, membership: &Membership) -> StoreResult<Membership>;
    /// Replaces the roles of an existing membership; None when there is none.
    async fn update_membership(&self, membership: &Membership) -> StoreResult<Option<Membership>>;
    async fn get_membership(
        &self,
        project_id: &str,
        identity_id: &str,
    ) -> StoreResult<Option<Membership>>;
    async fn delete_membership(&self, project_id: &str, identity_id: &str) -> StoreResult<bool>;
    async fn list_memberships_of_identity(&self, identity_id: &str)
        -> StoreResult<Vec<Membership>>;
    /// One page of a project's memberships (oldest first) and how many there are in all.
    async fn list_memberships_of_project(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<Membership>, i64)>;
}

/// Environments and the edits of folders (folders v2).
#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Creates an environment with its root folder; at `env.position`, later ones move down.
    async fn create_environment(&self, env: &Environment, root: &Folder) -> StoreResult<()>;
    /// Updates an environment; a new position moves the ones in between by one.
    async fn update_environment(&self, env: &Environment) -> StoreResult<bool>;
    /// Deletes an environment and its root folder, only if it holds nothing else (`false` if
    /// it is gone or not empty).
    async fn delete_environment(&self, project_id: &str, id: &str) -> StoreResult<bool>;
    async fn environment_contents(&self, env_id: &str) -> StoreResult<EnvironmentContents>;
    /// Renames (and re-describes) folders, rewriting the paths below each, in one transaction.
    async fn update_folders(&self, project_id: &str, updates: &[FolderUpdate]) -> StoreResult<()>;
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn insert_secret(
        &self,
        secret: &SecretRow,
        version: &SecretVersionRow,
        trail: &Trail,
    ) -> StoreResult<()>;
    async fn get_secret(
        &self,
        folder_id: &str,
        key: &str,
        secret_type: &str,
    ) -> StoreResult<Option<SecretRow>>;
    async fn get_secret_by_id(&self, id: &str) -> StoreResult<Option<SecretRow>>;
    async fn list_secrets(&self, folder_ids: &[String]) -> StoreResult<Vec<SecretRow>>;
    /// Replaces the secret if its stored version is `expected_version`; writes the version row.
    async fn update_secret(
        &self,
        secret: &SecretRow,
        expected_version: i64,
        version: &SecretVersionRow,
        trail: &Trail,
    ) -> StoreResult<()>;
    /// Deletes the secret (and writes `trail`) if it exists.
    async fn delete_secret(&self, id: &str, trail: &Trail) -> StoreResult<bool>;
    async fn get_secret_version(
        &self,
        secret_id: &str,
        version: i64,
    ) -> StoreResult<Option<SecretVersionRow>>;
    /// Applies every write of `batch` in one transaction, or none ([`StoreError::Conflict`]
    /// when a key is taken or a secret changed or went meanwhile).
    async fn write_secret_batch(&self, batch: &SecretBatch) -> StoreResult<()>;
}

/// A project's secret tags.
#[async_trait]
pub trait TagStore: Send + Sync {
    async fn create_tag(&self, tag: &TagRow) -> StoreResult<()>;
    async fn list_tags(&self, project_id: &str) -> StoreResult<Vec<TagRow>>;
    /// Replaces slug, name and color.
    async fn update_tag(&self, tag: &TagRow) -> StoreResult<bool>;
    async fn delete_tag(&self, project_id: &str, id: &str) -> StoreResult<bool>;
}

/// Secret imports between folders of a project.
#[async_trait]
pub trait SecretImportStore: Send + Sync {
    async fn create_secret_import(&self, import: &SecretImportRow) -> StoreResult<()>;
    /// A folder's imports, by position.
    async fn list_secret_imports(&self, folder_id: &str) -> StoreResult<Vec<SecretImportRow>>;
    async fn get_secret_import(&self, id: &str) -> StoreResult<Option<SecretImportRow>>;
    /// Points the import `import.id` of the folder `import.folder_id` at `import.import_env_id`
    /// and `import.import_path` (a [`StoreError::Conflict`] when the folder imports that
    /// already), and with `position`, moves it to that place among the folder's imports (1 is
    /// first, past the end last), numbering them 1 to n; one transaction. False when the folder
    /// has no such import.
    async fn update_secret_import(
        &self,
        import: &SecretImportRow,
        position: Option<i64>,
    ) -> StoreResult<bool>;
    async fn delete_secret_import(&self, project_id: &str, id: &str) -> StoreResult<bool>;
}

/// The read path's joined queries (docs/ARCHITECTURE.md, "Caches"): one statement each.
#[async_trait]
pub trait ReadStore: Send + Sync {
    /// An access token, its identity and where its tokens may be used from.
    async fn get_token_context(&self, token_id: &str) -> StoreResult<Option<TokenContextRow>>;
    /// A project and `identity_id`'s membership in it.
    async fn get_project_access(
        &self,
        project_id: &str,
        identity_id: &str,
    ) -> StoreResult<Option<ProjectAccessRow>>;
    /// A rotation with its environment, folder path and connection name.
    async fn get_rotation_view(&self, id: &str) -> StoreResult<Option<RotationViewRow>>;
    /// A project's rotations, oldest first, a page at a time.
    async fn list_rotation_views(
        &self,
        project_id: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<RotationViewRow>>;
    /// How many of a project's rotations there are, how many failed (and are not held by an
    /// executor: a lease with `lease_expires_at > now`), and how many auto-rotate at or before
    /// `due_by`; one statement.
    async fn count_rotation_health(
        &self,
        project_id: &str,
        now: i64,
        due_by: i64,
    ) -> StoreResult<RotationCounts>;
    /// A page of a project's rotations as the dashboard lists them: failed ones first, then
    /// those held by an executor at `now`, then by next rotation (unscheduled last), name
    /// (bytewise) and age; one statement.
    async fn list_rotation_views_by_health(
        &self,
        project_id: &str,
        now: i64,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<RotationViewRow>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()>;
    /// Writes many entries in one transaction, a few hundred rows per statement.
    async fn insert_audit_batch(&self, rows: &[AuditRow]) -> StoreResult<()>;
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRow>>;
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn create_connection(&self, connection: &AppConnectionRow) -> StoreResult<()>;
    async fn get_connection(&self, id: &str) -> StoreResult<Option<AppConnectionRow>>;
    async fn get_connection_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> StoreResult<Option<AppConnectionRow>>;
    /// The organization's own connections for `None`, a project's for `Some`.
    async fn list_connections(
        &self,
        org_id: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Vec<AppConnectionRow>>;
    /// Replaces the connection if its stored version is `expected_version`.
    async fn update_connection(
        &self,
        connection: &AppConnectionRow,
        expected_version: i64,
    ) -> StoreResult<()>;
    async fn delete_connection(&self, id: &str) -> StoreResult<bool>;
    /// Whether a secret rotation, a pending revocation or an issuance in flight uses the
    /// connection (deleting it would leave tokens rotad can no longer revoke).
    async fn connection_in_use(&self, id: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait RotationStore: Send + Sync {
    /// Inserts a rotation with its published secrets (each with its first version) and clears
    /// the creation intent.
    async fn insert_rotation(
        &self,
        rotation: &RotationRow,
        secrets: &[(SecretRow, SecretVersionRow)],
        intent_id: &str,
        trail: &Trail,
    ) -> StoreResult<()>;
    async fn get_rotation(&self, id: &str) -> StoreResult<Option<RotationRow>>;
    /// The rotation with what the engine needs beside it ([`LeasedRotation`]), in one read; for
    /// a caller that holds its lease.
    async fn get_leased_rotation(&self, id: &str) -> StoreResult<Option<LeasedRotation>>;
    async fn get_rotation_by_name(
        &self,
        folder_id: &str,
        name: &str,
    ) -> StoreResult<Option<RotationRow>>;
    async fn list_rotations(&self, project_id: &str) -> StoreResult<Vec<RotationRow>>;
    /// All rotations that use a connection (to tell their tokens from orphans).
    async fn list_rotations_by_connection(
        &self,
        connection_id: &str,
    ) -> StoreResult<Vec<RotationRow>>;
    /// Writes the settings columns (name … next_rotation_at), and a renamed secret if any, if
    /// the row is still at `expected_version` ([`ROTATION_CHANGED`] otherwise).
    async fn update_rotation_settings(
        &self,
        rotation: &RotationRow,
        expected_version: i64,
        secret: Option<&SecretWrite>,
        trail: &Trail,
    ) -> StoreResult<()>;
    /// Deletes the rotation if the lease and version still match, releases or deletes its
    /// secret and queues the given revocations, in one transaction.
    async fn delete_rotation(&self, delete: &RotationDelete) -> StoreResult<()>;

    /// Takes the lease unless another owner holds an unexpired one.
    async fn acquire_lease(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool>;
    /// [`RotationStore::acquire_lease`] that also returns the rotation as the statement that
    /// took the lease left it, with what the engine needs beside it; `None` when another owner
    /// holds an unexpired lease or the rotation does not exist.
    async fn lease_rotation(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<Option<LeasedRotation>>;
    /// Extends a lease `owner` still holds; false when another owner took it meanwhile (or it
    /// was released), so a lapsed executor never silently regains it.
    async fn renew_lease(&self, id: &str, owner: &str, expires_at: i64) -> StoreResult<bool>;
    async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()>;

    /// Applies a successful rotation if `lease_owner` still holds the lease and the row is at
    /// `expected_version`; returns the row as committed.
    async fn commit_rotation(&self, commit: &RotationCommit) -> StoreResult<RotationRow>;
    async fn record_rotation_failure(&self, failure: &RotationFailure) -> StoreResult<()>;
}

/// The credential queue: intents to issue (each written before dbt is asked, so what dbt
/// issues is never lost) and tokens waiting to be revoked.
#[async_trait]
pub trait CredentialQueueStore: Send + Sync {
    async fn insert_intent(&self, intent: &IntentRow) -> StoreResult<()>;
    /// Stores the issued credential on its intent; false when the intent is gone or swept
    /// (recovery settled it after this executor lost its lease).
    async fn set_intent_credential(&self, id: &str, credential: &[u8]) -> StoreResult<bool>;
    /// Marks the intent swept (keeps the first time). Without `any_credential`, only an intent
    /// with no credential yet. True when the intent is now marked: from then on no credential
    /// can be attached to it and no rotation can be inserted or committed from it.
    async fn mark_intent_swept(
        &self,
        id: &str,
        now: i64,
        any_credential: bool,
    ) -> StoreResult<bool>;
    async fn delete_intent(&self, id: &str) -> StoreResult<()>;
    async fn list_intents(&self) -> StoreResult<Vec<IntentRow>>;

    async fn enqueue_revocations(&self, rows: &[RevocationRow]) -> StoreResult<()>;
    async fn due_revocations(&self, now: i64, limit: i64) -> StoreResult<Vec<RevocationRow>>;
    async fn revocations_of(&self, rotation_id: &str) -> StoreResult<Vec<RevocationRow>>;
    async fn delete_revocation(&self, id: &str) -> StoreResult<()>;
    /// Deletes the queue entries `ids`, in one statement per 500.
    async fn delete_revocations(&self, ids: &[String]) -> StoreResult<()>;
    async fn defer_revocation(
        &self,
        id: &str,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()>;
}

/// What the scheduler needs beyond the engine's records.
#[async_trait]
pub trait SchedulerStore: Send + Sync {
    /// Leases up to `limit` auto-rotations due at `now` that no live executor holds, most
    /// overdue first. Concurrent callers (tasks, replicas) never get the same row. Each row's
    /// lease owner is `owner_prefix` followed by its id: one owner per task, never shared. Each
    /// comes with what the engine needs beside the row, read by the claim itself.
    async fn claim_due_rotations(
        &self,
        now: i64,
        owner_prefix: &str,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<LeasedRotation>>;
    async fn intents_of(&self, rotation_id: &str) -> StoreResult<Vec<IntentRow>>;
    async fn schedule_stats(&self, now: i64) -> StoreResult<ScheduleStats>;
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: &WebhookRow) -> StoreResult<()>;
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<WebhookRow>>;
    /// A project's webhooks, of one environment when `env_id` is given.
    async fn list_webhooks(
        &self,
        project_id: &str,
        env_id: Option<&str>,
    ) -> StoreResult<Vec<WebhookRow>>;
    async fn set_webhook_disabled(&self, id: &str, disabled: bool, now: i64) -> StoreResult<()>;
    async fn set_webhook_result(
        &self,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()>;
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;
    async fn enqueue_deliveries(&self, rows: &[DeliveryRow]) -> StoreResult<()>;
    /// Takes up to `limit` due deliveries, pushing their next attempt to `lease_until` and
    /// counting the attempt; concurrent callers never get the same row.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRow>>;
    async fn delete_delivery(&self, id: &str) -> StoreResult<()>;
    async fn defer_delivery(&self, id: &str, next_attempt_at: i64, error: &str) -> StoreResult<()>;
}

/// The web dashboard's sessions and one-time sign-in links (docs/SECURITY.md, "Dashboard
/// sessions").
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_dashboard_session(&self, session: &DashboardSession) -> StoreResult<()>;
    /// The signed-in session under `id_hash`, unless it has expired by `now`.
    async fn get_dashboard_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DashboardSession>>;
    /// Removes and answers the one-time link under `id_hash`: of concurrent callers, one gets
    /// it. An expired link is removed and not answered.
    async fn take_dashboard_link(
        &self,
        id_hash: &str,
        now: i64,
    ) -> StoreResult<Option<DashboardSession>>;
    async fn delete_dashboard_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Removes the sessions and links expired by `now`.
    async fn purge_dashboard_sessions(&self, now: i64) -> StoreResult<u64>;
}

/// Everything the services need from persistence.
#[async_trait]
pub trait Store:
    MetaStore
    + IdentityStore
    + ProjectStore
    + EnvironmentStore
    + SecretStore
    + TagStore
    + SecretImportStore
    + AuditStore
    + ReadStore
    + ConnectionStore
    + RotationStore
    + CredentialQueueStore
    + SchedulerStore
    + WebhookStore
    + SessionStore
{
    fn backend(&self) -> &'static str;

    /// Which scopes committed writes changed, for the caches (docs/ARCHITECTURE.md, "Caches").
    fn changes(&self) -> std::sync::Arc<changes::Changes>;

    /// Follows other processes' writes until `shutdown` (PostgreSQL `LISTEN`; on SQLite, the
    /// file's change counter).
    async fn follow_changes(&self, _shutdown: tokio_util::sync::CancellationToken) {
        self.changes().set_following();
    }
}
