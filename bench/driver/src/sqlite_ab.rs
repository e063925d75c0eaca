//! `sqlite-ab`: sqlx's SQLite driver against blocking rusqlite connections driven with
//! `tokio::task::spawn_blocking`, on the shapes of rotad's hot SQLite work (docs/BENCHMARKS.md,
//! "SQLite driver A/B").
//!
//! Each run gets a fresh database file (WAL, synchronous=NORMAL, foreign keys on, a 10 s busy
//! timeout: rotad's options) with `secret_rotations` and `audit_logs` as rotad's migrations
//! create them, seeded with `--rows` rotations, and `--tasks` tokio tasks run one operation in a
//! closed loop for `--warmup` then `--duration` seconds:
//!
//! - `read`: `SELECT * FROM secret_rotations WHERE id = ?` of a random rotation, decoded into
//!   rotad's `RotationRow`, on a read-only connection;
//! - `write`: the shape of a PATCH: `BEGIN; UPDATE secret_rotations … WHERE id = ? AND
//!   version = ?; INSERT INTO audit_logs …; COMMIT` on the writer (each task owns its own
//!   rotations, so the version check always holds);
//! - `batch`: `--batch` audit rows inserted one statement each in one transaction, the shape
//!   of a batched audit flush.
//!
//! The drivers: `sqlx` is a `SqlitePool` of 8 read-only readers and a writer pool of 1, built
//! as rotad's `store::connect` builds them (sqlx runs each connection on its own worker thread
//! and hands every statement, row and transaction step to it and back). `rusqlite` is the same
//! 8 + 1 connections held in two small pools: a task takes a permit (an async wait, no thread
//! held), takes a connection and runs the whole operation, transaction included, in one
//! `spawn_blocking` call.
//!
//! Only operations that complete inside the measured window count. CPU time is the process's
//! utime + stime from /proc/self/stat (every thread, in USER_HZ ticks of 10 ms) read at the
//! window's ends; context switches are summed over /proc/self/task/*/status the same way.
//! Prints one JSON line per run, one summary line per operation, then a table on stderr.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Args;
use rotad::store::RotationRow;
use rusqlite::{params, OpenFlags};
use serde_json::{json, Value};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Sqlite;
use tokio::sync::Semaphore;

use crate::load::pct;

#[derive(Debug, Clone, Args)]
pub struct AbArgs {
    /// Concurrent tokio tasks, each running operations back to back.
    #[arg(long, default_value_t = 64)]
    tasks: usize,
    /// Worker threads of the tokio runtime.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Unmeasured seconds before each run's window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Rotations in the table (the point reads pick among them).
    #[arg(long, default_value_t = 1000)]
    rows: usize,
    /// Audit rows per batched-insert transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Read-only connections of each driver (rotad: 8); the writer is always one.
    #[arg(long, default_value_t = 8)]
    readers: u32,
    /// Operations to measure: read, write, batch.
    #[arg(long, default_value = "read,write,batch", value_delimiter = ',')]
    ops: Vec<String>,
    /// The drivers in run order, per operation (ABBA cancels a linear drift).
    #[arg(
        long,
        default_value = "sqlx,rusqlite,rusqlite,sqlx",
        value_delimiter = ','
    )]
    order: Vec<String>,
    /// Directory for the databases (default: a new one under the temp dir, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value = "sqlite-ab")]
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Batch,
}

impl Op {
    fn parse(s: &str) -> anyhow::Result<Op> {
        Ok(match s {
            "read" => Op::Read,
            "write" => Op::Write,
            "batch" => Op::Batch,
            _ => bail!("unknown operation {s:?} (read, write, batch)"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Batch => "batch",
        }
    }

    fn what(self, batch: usize) -> String {
        match self {
            Op::Read => "point read (SELECT * by id)".into(),
            Op::Write => "write transaction (UPDATE + audit INSERT)".into(),
            Op::Batch => format!("batched insert ({batch} audit rows, one transaction)"),
        }
    }
}

const DRIVERS: [&str; 2] = ["sqlx", "rusqlite"];

pub async fn run(args: AbArgs) -> anyhow::Result<()> {
    let ops = args
        .ops
        .iter()
        .map(|s| Op::parse(s.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for d in &args.order {
        ensure!(
            DRIVERS.contains(&d.as_str()),
            "unknown driver {d:?} (sqlx, rusqlite)"
        );
    }
    ensure!(
        args.tasks > 0 && args.readers > 0,
        "--tasks and --readers must be positive"
    );
    ensure!(
        args.rows >= args.tasks,
        "--rows must be at least --tasks (each task writes its own rotations)"
    );
    ensure!(
        args.duration > 0.0 && args.warmup >= 0.0,
        "bad --duration/--warmup"
    );
    let (dir, remove_dir) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("rotad-sqlite-ab.{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_all(&args, &ops, &dir).await;
    if remove_dir {
        std::fs::remove_dir_all(&dir).ok();
    }
    let runs = result?;
    summarize(&args, &ops, &runs);
    Ok(())
}

async fn run_all(args: &AbArgs, ops: &[Op], dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut runs = Vec::new();
    for &op in ops {
        for (round, driver) in args.order.iter().enumerate() {
            let path = dir.join(format!("{}-{}-{round}.db", op.name(), driver));
            let r = run_one(args, op, driver, round, &path).await;
            for suffix in ["", "-wal", "-shm"] {
                std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
            }
            let r = r.with_context(|| format!("{} with {driver}", op.name()))?;
            println!("{r}");
            runs.push(r);
        }
    }
    Ok(runs)
}

async fn run_one(
    args: &AbArgs,
    op: Op,
    driver: &str,
    round: usize,
    path: &Path,
) -> anyhow::Result<Value> {
    let seed_path = path.to_path_buf();
    let rows = args.rows;
    tokio::task::spawn_blocking(move || seed(&seed_path, rows)).await??;
    let backend = Arc::new(match driver {
        "sqlx" => Backend::sqlx(path, args.readers).await?,
        _ => Backend::rusqlite(path, args.readers)?,
    });

    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.duration);
    let first_error = Arc::new(Mutex::new(None::<String>));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for idx in 0..args.tasks {
        let mut state = TaskState::new(idx, args);
        let (backend, first_error, errors) = (backend.clone(), first_error.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let r = state.step(&backend, op).await;
                let done = Instant::now();
                if let Err(e) = r {
                    errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut f) = first_error.lock() {
                        f.get_or_insert(format!("{e:#}"));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                } else if done >= start && done <= end {
                    lat.push((done - t).as_micros() as u64);
                }
            }
            lat
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let (cpu0, cs0, t0) = (cpu_ticks()?, context_switches(), Instant::now());
    tokio::time::sleep_until(end.into()).await;
    let (cpu1, cs1, t1) = (cpu_ticks()?, context_switches(), Instant::now());
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    backend.close().await;
    lat.sort_unstable();

    let secs = (t1 - t0).as_secs_f64();
    let n = lat.len() as f64;
    let cpu_s = (cpu1 - cpu0) as f64 / TICKS_PER_SECOND;
    let per_op = |x: f64| if n > 0.0 { x / n } else { f64::NAN };
    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    if let Some(e) = &first_error {
        eprintln!("{} with {driver}: {e}", op.name());
    }
    Ok(json!({
        "label": args.label,
        "op": op.name(),
        "what": op.what(args.batch),
        "driver": driver,
        "round": round,
        "tasks": args.tasks,
        "workers": args.workers,
        "readers": args.readers,
        "seconds": round3(secs),
        "ops": lat.len(),
        "ops_per_s": round3(n / secs),
        "rows_per_op": if op == Op::Batch { args.batch } else { 1 },
        "p50_ms": pct(&lat, 0.50),
        "p99_ms": pct(&lat, 0.99),
        "max_ms": pct(&lat, 1.0),
        "cpu_cores": round3(cpu_s / secs),
        "cpu_us_per_op": round3(per_op(cpu_s * 1e6)),
        "switches_per_op": round3(per_op(cs1.saturating_sub(cs0) as f64)),
        "errors": errors.load(Ordering::Relaxed),
        "first_error": first_error,
    }))
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// schema and data

/// `secret_rotations` (with 0006's `version`) and `audit_logs` as rotad's SQLite migrations
/// create them, less the foreign keys to tables this database does not have.
const SCHEMA: &str = "
CREATE TABLE secret_rotations (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL,
    project_id                 TEXT NOT NULL,
    env_id                     TEXT NOT NULL,
    folder_id                  TEXT NOT NULL,
    connection_id              TEXT NOT NULL,
    name                       TEXT NOT NULL,
    description                TEXT,
    rotation_type              TEXT NOT NULL,
    parameters                 TEXT NOT NULL,
    secrets_mapping            TEXT NOT NULL,
    credentials                BLOB NOT NULL,
    active_index               BIGINT NOT NULL,
    is_auto_rotation_enabled   BOOLEAN NOT NULL,
    rotation_interval          BIGINT NOT NULL,
    rotate_at_hours            BIGINT NOT NULL,
    rotate_at_minutes          BIGINT NOT NULL,
    rotation_status            TEXT NOT NULL,
    last_rotation_attempted_at BIGINT NOT NULL,
    last_rotated_at            BIGINT NOT NULL,
    last_rotation_job_id       TEXT,
    last_rotation_message      BLOB,
    next_rotation_at           BIGINT,
    is_last_rotation_manual    BOOLEAN NOT NULL,
    failed_attempts            BIGINT NOT NULL,
    lease_owner                TEXT,
    lease_expires_at           BIGINT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    version                    BIGINT NOT NULL DEFAULT 0,
    UNIQUE (folder_id, name)
);
CREATE INDEX secret_rotations_project ON secret_rotations(project_id);
CREATE INDEX secret_rotations_due ON secret_rotations(next_rotation_at)
    WHERE is_auto_rotation_enabled;
CREATE INDEX secret_rotations_connection ON secret_rotations(connection_id);

CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    project_id  TEXT,
    event_type  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    ip_address  TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_logs_org_time ON audit_logs(org_id, created_at);
CREATE INDEX audit_logs_project_time ON audit_logs(project_id, created_at);
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
";

const SELECT_ROTATION: &str = "SELECT * FROM secret_rotations WHERE id = ?1";
const UPDATE_ROTATION: &str = "UPDATE secret_rotations SET description = ?1, updated_at = ?2, \
     version = version + 1 WHERE id = ?3 AND version = ?4";
const INSERT_AUDIT: &str = "INSERT INTO audit_logs (id, org_id, project_id, event_type, actor, \
     metadata, ip_address, user_agent, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const ORG: &str = "7d0c6f1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f";
const PROJECT: &str = "2f9e8d7c-6b5a-4d3c-8b2a-1f0e9d8c7b6a";

fn rotation_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Creates the schema and `rows` rotations shaped like rotad's (about 1 KB each).
fn seed(path: &Path, rows: usize) -> anyhow::Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.execute_batch(SCHEMA)?;
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare(
            "INSERT INTO secret_rotations (id, org_id, project_id, env_id, folder_id, \
             connection_id, name, description, rotation_type, parameters, secrets_mapping, \
             credentials, active_index, is_auto_rotation_enabled, rotation_interval, \
             rotate_at_hours, rotate_at_minutes, rotation_status, last_rotation_attempted_at, \
             last_rotated_at, last_rotation_job_id, last_rotation_message, next_rotation_at, \
             is_last_rotation_manual, failed_attempts, lease_owner, lease_expires_at, \
             created_at, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
             ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, \
             ?26, ?27, ?28, ?29, 0)",
        )?;
        let now = now_ms();
        // Sealed credentials: nonce, two slots of JSON, tag; incompressible bytes.
        let sealed: Vec<u8> = (0..360u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for i in 0..rows {
            st.execute(params![
                rotation_id(i),
                ORG,
                PROJECT,
                "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
                "9c8b7a6f-5e4d-4c3b-a291-8f7e6d5c4b3a",
                "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                format!("rot-{i:06}"),
                "nightly dbt service token for the analytics jobs",
                "dbt-service-token",
                r#"{"accountId":70403103932004,"tokenName":"rotad-analytics","permissionGrants":[{"permissionSet":"job_admin","projectId":70403103932010}]}"#,
                format!(r#"{{"token":"ROT_{i:06}_TOKEN","tokenId":"ROT_{i:06}_TOKEN_ID"}}"#),
                sealed,
                1i64,
                true,
                30i64,
                0i64,
                0i64,
                "success",
                now,
                now,
                None::<String>,
                None::<Vec<u8>>,
                now + 30 * 86_400_000,
                false,
                0i64,
                None::<String>,
                None::<i64>,
                now,
                now,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[derive(Debug, Clone)]
struct AuditRow {
    id: String,
    org_id: &'static str,
    project_id: Option<&'static str>,
    event_type: &'static str,
    actor: String,
    metadata: String,
    ip_address: &'static str,
    user_agent: &'static str,
    created_at: i64,
}

impl AuditRow {
    fn new(task: usize, seq: u64, rotation: &str, description: &str) -> AuditRow {
        AuditRow {
            id: format!("{task:08x}-0000-4000-8000-{seq:012x}"),
            org_id: ORG,
            project_id: Some(PROJECT),
            event_type: "update-secret-rotation",
            actor: r#"{"type":"user","userId":"c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"}"#.into(),
            metadata: format!(
                r#"{{"rotationId":"{rotation}","type":"dbt-service-token","environment":"dev","secretPath":"/","changes":{{"description":"{description}"}}}}"#
            ),
            ip_address: "127.0.0.1",
            user_agent: "rotad-bench/1",
            created_at: now_ms(),
        }
    }

    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
        q.bind(&self.id)
            .bind(self.org_id)
            .bind(self.project_id)
            .bind(self.event_type)
            .bind(&self.actor)
            .bind(&self.metadata)
            .bind(self.ip_address)
            .bind(self.user_agent)
            .bind(self.created_at)
    }

    fn insert(&self, st: &mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<usize> {
        st.execute(params![
            self.id,
            self.org_id,
            self.project_id,
            self.event_type,
            self.actor,
            self.metadata,
            self.ip_address,
            self.user_agent,
            self.created_at
        ])
    }
}

/// A PATCH: new description of a rotation at a known version, and its audit row.
struct Patch {
    id: String,
    version: i64,
    description: String,
    now: i64,
    audit: AuditRow,
}

// ---------------------------------------------------------------------------------------------
// the two drivers

enum Backend {
    Sqlx {
        read: SqlitePool,
        write: SqlitePool,
    },
    Rusqlite {
        read: BlockingPool,
        write: BlockingPool,
    },
}

impl Backend {
    /// rotad's `store::connect` for a `sqlite:` URL.
    async fn sqlx(path: &Path, readers: u32) -> anyhow::Result<Backend> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(readers)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Backend::Sqlx { read, write })
    }

    /// The same connections, as sqlx opens them (NOMUTEX, private cache, the same pragmas).
    fn rusqlite(path: &Path, readers: u32) -> anyhow::Result<Backend> {
        let open = |flags: OpenFlags| -> anyhow::Result<rusqlite::Connection> {
            let c = rusqlite::Connection::open_with_flags(
                path,
                flags
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE,
            )?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.busy_timeout(Duration::from_secs(10))?;
            // sqlx keeps up to 100 prepared statements per connection.
            c.set_prepared_statement_cache_capacity(100);
            Ok(c)
        };
        let write = BlockingPool::new(vec![open(
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?]);
        let read = BlockingPool::new(
            (0..readers)
                .map(|_| open(OpenFlags::SQLITE_OPEN_READ_ONLY))
                .collect::<anyhow::Result<_>>()?,
        );
        Ok(Backend::Rusqlite { read, write })
    }

    async fn close(&self) {
        if let Backend::Sqlx { read, write } = self {
            read.close().await;
            write.close().await;
        }
    }

    async fn read(&self, id: String) -> anyhow::Result<RotationRow> {
        match self {
            Backend::Sqlx { read, .. } => Ok(sqlx::query_as::<_, RotationRow>(SELECT_ROTATION)
                .bind(id)
                .fetch_optional(read)
                .await?
                .context("no such rotation")?),
            Backend::Rusqlite { read, .. } => {
                read.run(move |c| {
                    let mut st = c.prepare_cached(SELECT_ROTATION)?;
                    Ok(st.query_row([&id], rotation_row)?)
                })
                .await
            }
        }
    }

    async fn patch(&self, p: Patch) -> anyhow::Result<()> {
        match self {
            Backend::Sqlx { write, .. } => {
                let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
                let done = sqlx::query(UPDATE_ROTATION)
                    .bind(&p.description)
                    .bind(p.now)
                    .bind(&p.id)
                    .bind(p.version)
                    .execute(&mut *tx)
                    .await?;
                ensure!(done.rows_affected() == 1, "rotation {} changed", p.id);
                p.audit
                    .bind(sqlx::query(INSERT_AUDIT))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
            Backend::Rusqlite { write, .. } => {
                write
                    .run(move |c| {
                        let tx = c.transaction()?;
                        let n = tx.prepare_cached(UPDATE_ROTATION)?.execute(params![
                            p.description,
                            p.now,
                            p.id,
                            p.version
                        ])?;
                        ensure!(n == 1, "rotation {} changed", p.id);
                        p.audit.insert(&mut tx.prepare_cached(INSERT_AUDIT)?)?;
                        tx.commit()?;
                        Ok(())
                    })
                    .await
            }
        }
    }

    async fn batch(&self, rows: Vec<AuditRow>) -> anyhow::Result<()> {
        match self {
            Backend::Sqlx { write, .. } => {
                let mut tx = write.begin_with("BEGIN IMMEDIATE").await?;
                for a in &rows {
                    a.bind(sqlx::query(INSERT_AUDIT)).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }
            Backend::Rusqlite { write, .. } => {
                write
                    .run(move |c| {
                        let tx = c.transaction()?;
                        {
                            let mut st = tx.prepare_cached(INSERT_AUDIT)?;
                            for a in &rows {
                                a.insert(&mut st)?;
                            }
                        }
                        tx.commit()?;
                        Ok(())
                    })
                    .await
            }
        }
    }
}

/// rotad's `RotationRow` from a rusqlite row, by column name as sqlx's `FromRow` reads it.
fn rotation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RotationRow> {
    Ok(RotationRow {
        id: r.get("id")?,
        org_id: r.get("org_id")?,
        project_id: r.get("project_id")?,
        env_id: r.get("env_id")?,
        folder_id: r.get("folder_id")?,
        connection_id: r.get("connection_id")?,
        name: r.get("name")?,
        description: r.get("description")?,
        rotation_type: r.get("rotation_type")?,
        parameters: r.get("parameters")?,
        secrets_mapping: r.get("secrets_mapping")?,
        credentials: r.get("credentials")?,
        active_index: r.get("active_index")?,
        is_auto_rotation_enabled: r.get("is_auto_rotation_enabled")?,
        rotation_interval: r.get("rotation_interval")?,
        rotate_at_hours: r.get("rotate_at_hours")?,
        rotate_at_minutes: r.get("rotate_at_minutes")?,
        rotation_status: r.get("rotation_status")?,
        last_rotation_attempted_at: r.get("last_rotation_attempted_at")?,
        last_rotated_at: r.get("last_rotated_at")?,
        last_rotation_job_id: r.get("last_rotation_job_id")?,
        last_rotation_message: r.get("last_rotation_message")?,
        next_rotation_at: r.get("next_rotation_at")?,
        is_last_rotation_manual: r.get("is_last_rotation_manual")?,
        failed_attempts: r.get("failed_attempts")?,
        lease_owner: r.get("lease_owner")?,
        lease_expires_at: r.get("lease_expires_at")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        version: r.get("version")?,
    })
}

/// Blocking connections for async callers: a permit per connection (waiting for one holds no
/// thread), then the whole operation on a blocking thread in one `spawn_blocking` call.
struct BlockingPool {
    permits: Semaphore,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl BlockingPool {
    fn new(conns: Vec<rusqlite::Connection>) -> BlockingPool {
        BlockingPool {
            permits: Semaphore::new(conns.len()),
            idle: Mutex::new(conns),
        }
    }

    async fn run<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await?;
        let mut conn = self
            .idle
            .lock()
            .map_err(|_| anyhow::anyhow!("pool poisoned"))?
            .pop()
            .context("no idle connection under a permit")?;
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut conn);
            (conn, out)
        })
        .await?;
        self.idle
            .lock()
            .map_err(|_| anyhow::anyhow!("pool poisoned"))?
            .push(conn);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// the tasks

struct TaskState {
    idx: usize,
    rng: u64,
    seq: u64,
    rows: usize,
    batch: usize,
    /// The rotations this task writes (id, current version): `idx`, `idx + tasks`, ….
    owned: Vec<(String, i64)>,
}

impl TaskState {
    fn new(idx: usize, args: &AbArgs) -> TaskState {
        TaskState {
            idx,
            rng: 0x9e37_79b9_7f4a_7c15 ^ (idx as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
            seq: 0,
            rows: args.rows,
            batch: args.batch,
            owned: (idx..args.rows)
                .step_by(args.tasks)
                .map(|i| (rotation_id(i), 0))
                .collect(),
        }
    }

    /// xorshift64*.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    async fn step(&mut self, backend: &Backend, op: Op) -> anyhow::Result<()> {
        self.seq += 1;
        match op {
            Op::Read => {
                let id = rotation_id((self.next() % self.rows as u64) as usize);
                let row = backend.read(id.clone()).await?;
                ensure!(row.id == id, "read {} for {id}", row.id);
            }
            Op::Write => {
                let slot = (self.seq as usize) % self.owned.len();
                let (id, version) = self.owned[slot].clone();
                let description = format!("bench {}", self.seq);
                let audit = AuditRow::new(self.idx, self.seq, &id, &description);
                backend
                    .patch(Patch {
                        id,
                        version,
                        description,
                        now: now_ms(),
                        audit,
                    })
                    .await?;
                self.owned[slot].1 += 1;
            }
            Op::Batch => {
                let base = self.seq * self.batch as u64;
                let rows = (0..self.batch as u64)
                    .map(|i| {
                        let rotation = rotation_id((base + i) as usize % self.rows);
                        AuditRow::new(self.idx, base + i, &rotation, "flush")
                    })
                    .collect();
                backend.batch(rows).await?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// CPU time and context switches of this process

/// USER_HZ: the unit of /proc's utime and stime on every Linux architecture rotad builds for.
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of every thread of this process, in USER_HZ ticks.
fn cpu_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').context("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc/self/stat")?.parse()?)
    };
    Ok(field(11)? + field(12)?)
}

/// Voluntary plus involuntary context switches of the threads alive now.
fn context_switches() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// summary

fn mean(runs: &[&Value], key: &str) -> f64 {
    let xs: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn summarize(args: &AbArgs, ops: &[Op], runs: &[Value]) {
    let mut table = vec![
        format!(
            "{} tasks on {} runtime workers, {} readers + 1 writer per driver, {} s per run after \
             {} s warm-up; means over the runs of each driver ({})",
            args.tasks,
            args.workers,
            args.readers,
            args.duration,
            args.warmup,
            args.order.join(", ")
        ),
        String::new(),
        "| Operation | Driver | ops/s | p50 ms | p99 ms | CPU µs/op | switches/op |".into(),
        "| --- | --- | --- | --- | --- | --- | --- |".into(),
    ];
    let mut verdicts = Vec::new();
    for &op in ops {
        let mut per = serde_json::Map::new();
        for d in DRIVERS {
            let rs: Vec<&Value> = runs
                .iter()
                .filter(|r| r["op"] == op.name() && r["driver"] == d)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let m = json!({
                "runs": rs.len(),
                "ops_per_s": round3(mean(&rs, "ops_per_s")),
                "p50_ms": round3(mean(&rs, "p50_ms")),
                "p99_ms": round3(mean(&rs, "p99_ms")),
                "cpu_us_per_op": round3(mean(&rs, "cpu_us_per_op")),
                "switches_per_op": round3(mean(&rs, "switches_per_op")),
            });
            table.push(format!(
                "| {} | {d} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} |",
                op.what(args.batch),
                m["ops_per_s"].as_f64().unwrap_or(f64::NAN),
                m["p50_ms"].as_f64().unwrap_or(f64::NAN),
                m["p99_ms"].as_f64().unwrap_or(f64::NAN),
                m["cpu_us_per_op"].as_f64().unwrap_or(f64::NAN),
                m["switches_per_op"].as_f64().unwrap_or(f64::NAN),
            ));
            per.insert(d.into(), m);
        }
        let get = |d: &str, k: &str| per.get(d).and_then(|m| m[k].as_f64());
        let mut summary = json!({"label": args.label, "summary": true, "op": op.name(),
                                 "what": op.what(args.batch)});
        if let (Some(s), Some(r), Some(sc), Some(rc)) = (
            get("sqlx", "ops_per_s"),
            get("rusqlite", "ops_per_s"),
            get("sqlx", "cpu_us_per_op"),
            get("rusqlite", "cpu_us_per_op"),
        ) {
            summary["rusqlite_over_sqlx_ops"] = json!(round3(r / s));
            summary["sqlx_over_rusqlite_cpu"] = json!(round3(sc / rc));
            verdicts.push(format!(
                "{}: rusqlite {:.2}× sqlx's ops/s; sqlx {:.2}× rusqlite's CPU per operation",
                op.name(),
                r / s,
                sc / rc
            ));
        }
        summary["drivers"] = Value::Object(per);
        println!("{summary}");
    }
    table.push(String::new());
    table.extend(verdicts);
    eprintln!("{}", table.join("\n"));
}
