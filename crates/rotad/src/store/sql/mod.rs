//! The store written once over sqlx for SQLite and PostgreSQL.
//!
//! Both backends share table layouts (text ids, integer millisecond times, binary ciphertexts)
//! and `$n` placeholders, so one body of SQL serves both. What truly differs (connection set-up,
//! migrations, row claiming under concurrency) is in [`Dialect`]. SQLite gets one writer
//! connection (SQLite serialises writers anyway) and a pool of readers.

mod audit;
mod connections;
mod credential_queue;
mod environments;
mod identities;
mod listen;
mod projects;
mod reads;
mod rotations;
mod scheduling;
mod secret_extras;
mod secrets;
mod sessions;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection as _;
use sqlx::{Database, Pool, Postgres, Sqlite};

use super::changes::{payload, Changes, CHANNEL};
use super::{MetaStore, Store, StoreError, StoreResult};

/// What differs between the backends.
pub trait Dialect: Database {
    const NAME: &'static str;
    /// Appended to a `SELECT` that picks rows to claim: PostgreSQL skips rows another
    /// transaction is claiming; SQLite has one writer, so a conditional `UPDATE` is enough.
    const SKIP_LOCKED: &'static str;
    /// Appended to a `SELECT` inside a transaction to hold the rows it reads until the commit
    /// (PostgreSQL); SQLite's one writer holds the database anyway.
    const LOCK_ROWS: &'static str;
    /// Sends a write's changed scopes to the other replicas, inside the write's transaction
    /// (so they hear of it exactly when it commits). SQLite has one process: nothing to send.
    const NOTIFY: Option<&'static str>;
    /// How a write transaction starts. SQLite: `BEGIN IMMEDIATE`, which takes the write lock
    /// at once (waiting up to the busy timeout): a deferred transaction that read first and
    /// then wrote failed at once with `SQLITE_BUSY` when another process (a second replica on
    /// the same file, its read-audit flush) had committed in between.
    const BEGIN: &'static str;
    /// Appended to a text column in `ORDER BY` so that it sorts by bytes, as Rust compares
    /// strings: SQLite's default collation does already; PostgreSQL's follows the database's
    /// locale unless told `"C"`.
    const BYTE_ORDER: &'static str;
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// The value at `path` inside the JSON text in `column`, as SQL text (`true`/`false` for
    /// booleans, digits for numbers, NULL when absent). Each path element is an SQL text
    /// expression (a quoted literal or a parameter) naming a key of letters, digits, `_`, `-`.
    fn json_text(column: &str, path: &[&str]) -> String;
    /// An audit entry's `metadata.rotationId`, exactly as indexed (`audit_logs_rotation_time`).
    const ROTATION_ID_OF_METADATA: &'static str;
}

impl Dialect for Sqlite {
    const NAME: &'static str = "sqlite";
    const SKIP_LOCKED: &'static str = "";
    const LOCK_ROWS: &'static str = "";
    const NOTIFY: Option<&'static str> = None;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const BYTE_ORDER: &'static str = "";
    const ROTATION_ID_OF_METADATA: &'static str = "json_extract(metadata, '$.rotationId')";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn json_text(column: &str, path: &[&str]) -> String {
        let keys: Vec<String> = path
            .iter()
            .map(|e| format!("'.\"' || {e} || '\"'"))
            .collect();
        let p = format!("('$' || {})", keys.join(" || "));
        format!(
            "(CASE json_type({column}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract({column}, {p}) AS TEXT) END)"
        )
    }
}

impl Dialect for Postgres {
    const NAME: &'static str = "postgres";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const LOCK_ROWS: &'static str = " FOR UPDATE";
    const NOTIFY: Option<&'static str> = Some("SELECT pg_notify($1, $2)");
    const BEGIN: &'static str = "BEGIN";
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    const ROTATION_ID_OF_METADATA: &'static str = "((metadata::jsonb) ->> 'rotationId')";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
    fn json_text(column: &str, path: &[&str]) -> String {
        format!("(({column})::jsonb #>> ARRAY[{}]::text[])", path.join(", "))
    }
}

pub struct SqlStore<DB: Database> {
    /// Pool for statements that write (one connection on SQLite).
    write: Pool<DB>,
    /// Pool for plain reads.
    read: Pool<DB>,
    /// Scopes bumped by each committed write, for the caches (docs/ARCHITECTURE.md, "Caches").
    changes: Arc<Changes>,
    /// Stops the store's own background work (SQLite's checkpoints) when the store goes.
    _background: Option<tokio_util::sync::DropGuard>,
}

impl<DB: Database> SqlStore<DB> {
    pub fn pool(&self) -> &Pool<DB> {
        &self.write
    }

    /// After a write committed: the caches of this process forget what it changed.
    fn changed(&self, scopes: &[String]) {
        self.changes.bump(scopes);
    }
}

/// After a hot write committed (a secret, a rotation, a connection): this process's caches forget
/// what it changed, and the other replicas are told, in a statement of its own. A NOTIFY inside the write's transaction
/// would hold PostgreSQL's notification lock through the commit's flush, and so serialize every
/// such commit of the whole database (docs/ARCHITECTURE.md, "Caches"). A failure here is logged:
/// the change stands, and the others' entries expire within their bounded age.
pub(super) async fn publish<DB>(store: &SqlStore<DB>, scopes: &[String])
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    store.changed(scopes);
    if DB::NOTIFY.is_none() || scopes.is_empty() {
        return;
    }
    let sent = match store.write.acquire().await {
        Ok(mut conn) => announce::<DB>(&mut conn, scopes).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not tell other replicas of a change");
    }
}

/// Within a write's transaction, tells the other replicas which scopes it changes: for the
/// rare writes that must reach every replica exactly when they commit (tokens, identities,
/// memberships, projects, folders).
pub(super) async fn announce<DB>(conn: &mut DB::Connection, scopes: &[String]) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    if let Some(sql) = DB::NOTIFY {
        if !scopes.is_empty() {
            sqlx::query::<DB>(sql)
                .bind(CHANNEL)
                .bind(payload(scopes))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Creates a folder (and its parents) readable by its owner only (0700).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates an empty file readable by its owner only (0600), unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.exists() || path.to_string_lossy() == ":memory:" {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens the database named by `url`, creating a SQLite file and its folder when missing,
/// and runs the backend's migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Checkpoints run beside the writer (`checkpoints`); the writer's own only when
            // the WAL passes this many pages, should those ever fall behind.
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string());
        let file = Path::new(options.get_filename()).to_path_buf();
        if let Some(parent) = file.parent() {
            if !parent.as_os_str().is_empty() {
                create_private_dir(parent).map_err(sqlx::Error::Io)?;
            }
        }
        // The database (and so its WAL and shared-memory files, which SQLite creates with the
        // database's mode) readable by its owner only.
        create_private_file(&file).map_err(sqlx::Error::Io)?;
        // A local file: the pool need not ping a connection before handing it out (a round
        // trip through SQLite's worker thread per query, about a quarter of a read's cost).
        // Every hand-out of the writer (a transaction, or a lone statement) is a writer trip:
        // counted for `/metrics` and traced in the acquiring task's span (`writer_trip`).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|_, _| {
                Box::pin(async {
                    writer_trip();
                    Ok(())
                })
            })
            .before_acquire(|_, _| {
                Box::pin(async {
                    writer_trip();
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let checkpointer = SqliteConnection::connect_with(&options).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(checkpoints(checkpointer, write.clone(), file, stop.clone()));
        Ok(Arc::new(SqlStore {
            write,
            read,
            changes: Arc::default(),
            _background: Some(stop.drop_guard()),
        }))
    } else {
        // No single writer to count here; each hand-out is traced (TRACE, `sqlx::pool::acquire`,
        // off unless a subscriber asks) in the acquiring task's span instead.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .acquire_time_level(log::LevelFilter::Trace)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Arc::new(SqlStore {
            write: pool.clone(),
            read: pool,
            changes: Arc::default(),
            _background: None,
        }))
    }
}

/// The WAL size (pages) past which the writer checkpoints itself: a safety net, should the
/// background checkpoints ever fall behind (128 MB of 4 KB pages).
const WRITER_CHECKPOINT_PAGES: u32 = 32_000;
/// How often the WAL is checkpointed beside the writer.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// A WAL this long (pages) that the checkpoints beside the writer could not finish is caught
/// up with the writer held, so that the WAL starts over (48 MB): rarely, because each
/// catch-up holds the writer for two flushes of a few milliseconds.
const CATCH_UP_PAGES: i64 = 12_000;

/// Keeps the WAL short without the writer's connection doing the work (docs/BENCHMARKS.md,
/// "Morning of 4 December"). Every [`CHECKPOINT_EVERY`], on a connection of its own:
///
/// 1. a `PASSIVE` checkpoint copies the WAL into the database beside the writer (it waits for
///    no one; under a steady stream of commits it never reaches the WAL's end, because frames
///    keep arriving while it copies, so SQLite neither syncs the database nor restarts the WAL);
/// 2. once the WAL has grown to [`CATCH_UP_PAGES`], the pages copied so far are flushed to
///    disk, still beside the writer, and then the writer's connection is held for a last
///    `PASSIVE` pass, which now reaches the end: little left to copy or to flush, so the writer
///    waits a few milliseconds, and its next commit starts the WAL over.
///
/// Left to SQLite, the writer's own checkpoint did all of it whenever the WAL reached its
/// limit: under a PATCH load, every 200 ms a commit waited ~30 ms for two full flushes.
async fn checkpoints(
    mut conn: SqliteConnection,
    writer: Pool<Sqlite>,
    file: std::path::PathBuf,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        let (log, left) = match checkpoint(&mut conn).await {
            Ok(pages) => pages,
            Err(e) => {
                tracing::debug!(error = %e, "WAL checkpoint failed; the next one retries");
                continue;
            }
        };
        // A short WAL starts over by itself once a pass reaches its end between two commits.
        if log < CATCH_UP_PAGES {
            continue;
        }
        if left > 0 {
            let path = file.clone();
            let flushed =
                tokio::task::spawn_blocking(move || std::fs::File::open(path)?.sync_data())
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r);
            if let Err(e) = flushed {
                tracing::debug!(error = %e, "could not flush the database file; the next pass retries");
                continue;
            }
        }
        let Ok(held) = writer.acquire().await else {
            continue;
        };
        if let Err(e) = checkpoint(&mut conn).await {
            tracing::debug!(error = %e, "WAL checkpoint failed; the next one retries");
        }
        drop(held);
    }
    let _ = conn.close().await;
}

/// One `PASSIVE` checkpoint: the WAL's length and what it left uncopied (frames).
async fn checkpoint(conn: &mut SqliteConnection) -> Result<(i64, i64), sqlx::Error> {
    let (_busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await?;
    Ok((log, (log - copied).max(0)))
}

/// The tracing target of a writer trip event.
pub const WRITER_TRIP_TARGET: &str = "rotad::store::writer";

/// One acquisition of SQLite's writer connection: the `rotad_store_writer_trips_total` counter,
/// and a TRACE event under [`WRITER_TRIP_TARGET`] in the span of whoever acquired it (a test
/// attributes trips to one rotation by its span). Either hook's future is ready at once, so an
/// acquire cannot be cancelled between them and the hand-out.
fn writer_trip() {
    crate::metrics::global().writer_trip();
    tracing::trace!(target: WRITER_TRIP_TARGET, "writer trip");
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

// The `where` clause below (the bounds under which one body of SQL runs on a backend) is
// repeated on each `impl`, because Rust does not carry a trait's `where` clauses to its users.
#[async_trait]
impl<DB> MetaStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB> + sqlx::ColumnIndex<DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar::<DB, String>("SELECT value FROM meta WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn set_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn get_data_key(&self, scope: &str) -> StoreResult<Option<(String, Vec<u8>)>> {
        Ok(sqlx::query_as::<DB, (String, Vec<u8>)>(
            "SELECT id, wrapped FROM data_keys WHERE scope = $1",
        )
        .bind(scope)
        .fetch_optional(&self.write)
        .await?)
    }

    async fn insert_data_key(&self, scope: &str, id: &str, wrapped: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO data_keys (scope, id, wrapped, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope) DO NOTHING",
        )
        .bind(scope)
        .bind(id)
        .bind(wrapped)
        .bind(crate::time::now_ms())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn close(&self) {
        // A pool is marked closed when `close` is called, before its future first runs; the
        // future only waits for the connections in use, and the changes listener holds one
        // for as long as it lives, so it is not awaited here.
        let closing = (self.read.close(), self.write.close());
        drop(closing);
    }
}

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Dialect,
    Self: MetaStore
        + super::IdentityStore
        + super::ProjectStore
        + super::EnvironmentStore
        + super::SecretStore
        + super::TagStore
        + super::SecretImportStore
        + super::AuditStore
        + super::ReadStore
        + super::ConnectionStore
        + super::RotationStore
        + super::CredentialQueueStore
        + super::SchedulerStore
        + super::WebhookStore
        + super::SessionStore,
{
    fn backend(&self) -> &'static str {
        <DB as Dialect>::NAME
    }

    fn changes(&self) -> Arc<Changes> {
        self.changes.clone()
    }

    async fn follow_changes(&self, shutdown: tokio_util::sync::CancellationToken) {
        let pool: &dyn std::any::Any = &self.read;
        let writer: &dyn std::any::Any = &self.write;
        if let Some(pool) = pool.downcast_ref::<Pool<Postgres>>() {
            listen::follow(pool, &self.changes, shutdown).await;
        } else if let Some(writer) = writer.downcast_ref::<Pool<Sqlite>>() {
            listen::follow_file(writer, &self.changes, shutdown).await;
        }
    }
}

#[cfg(test)]
mod begin_tests;
