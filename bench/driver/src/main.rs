//! `driver`: the load driver of rotad's benchmarks (`bench/run.sh`).
//!
//! - `baseline`: a minimal axum server answering every GET/PATCH with a JSON body of a given size.
//! - `setup`: bootstraps a rotad instance over HTTP (project, dbt connection, N rotations).
//! - `load`: fixed-duration closed-loop load on one URL over N keep-alive connections; prints
//!   one JSON line with req/s and latency percentiles.
//! - `rotate`: manual `rotate-secrets` on distinct rotations, N at a time.
//! - `emu-bound`: the dbt calls a batch of rotations makes, made directly against the emulator.
//! - `wait-calls`: waits until the emulator has counted a number of calls of one kind.
//! - `wait-rotations`: waits until rotad's `/metrics` counts a number of finished rotations.
//! - `wait-up`: waits until a URL answers 2xx (start-up time).
//! - `claim-time`: times rotad's due-rotation claim against a database, through rotad's store.
//! - `sqlite-ab`: sqlx's SQLite driver against rusqlite connections driven with `spawn_blocking`.
//!
//! Everything talks to 127.0.0.1 only; every loop is bounded in count and time.

mod emu;
mod load;
mod probe;
mod setup;
mod sqlite_ab;
mod wait;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "driver", about = "rotad benchmark driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Minimal axum server: every path answers a JSON body of `--body-bytes` bytes.
    Baseline {
        #[arg(long, default_value = "127.0.0.1:18099")]
        listen: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        body_bytes: usize,
    },
    /// Bootstraps rotad and creates a project, a dbt connection and `--rotations` rotations.
    Setup {
        #[arg(long)]
        rotad: String,
        #[arg(long)]
        emulator: String,
        #[arg(long, default_value_t = 1)]
        rotations: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// `rotationInterval` of the rotations (days, or the configured unit).
        #[arg(long, default_value_t = 30)]
        interval: u32,
        /// Where to write {token, project, connection, rotations: [ids]}.
        #[arg(long)]
        out: String,
    },
    /// Closed-loop load on one URL for a fixed time after a warm-up.
    Load(load::LoadArgs),
    /// `POST …/{id}/rotate-secrets` on every rotation of a setup file, `--concurrency` at a time.
    Rotate {
        #[arg(long)]
        rotad: String,
        #[arg(long)]
        state: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Rotate at most this many (the first ones of the file).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value = "manual")]
        label: String,
    },
    /// Makes, directly against the emulator, the dbt calls of `--calls` (a JSON map of call
    /// counts per operation, as `GET /_emulator/calls` answers) split into `--jobs` jobs, one
    /// per rotation, `--concurrency` jobs at a time. Prints the jobs per second.
    EmuBound {
        #[arg(long)]
        emulator: String,
        #[arg(long)]
        calls: String,
        #[arg(long)]
        jobs: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value = "emulator-only")]
        label: String,
    },
    /// Waits until the emulator's count of `--op` calls reaches `--target`; prints the time.
    WaitCalls {
        #[arg(long)]
        emulator: String,
        #[arg(long, default_value = "token_create")]
        op: String,
        #[arg(long)]
        target: u64,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Waits until rotad's `/metrics` counts `--target` finished rotations (succeeded plus
    /// failed, since the process started); prints the time since `--since-unix-ms`.
    WaitRotations {
        /// `http://127.0.0.1:PORT` of `ROTAD_METRICS_LISTEN`.
        #[arg(long)]
        metrics: String,
        #[arg(long)]
        target: u64,
        /// When the clock started (default: when this command started).
        #[arg(long)]
        since_unix_ms: Option<u64>,
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
        #[arg(long, default_value = "rotations")]
        label: String,
    },
    /// Times rotad's `claim_due_rotations` (and the due-count gauge) `--repeat` times.
    ClaimTime {
        #[arg(long)]
        database_url: String,
        /// Rows per claim (the scheduler claims up to its free concurrency slots).
        #[arg(long, default_value_t = 32)]
        limit: i64,
        #[arg(long, default_value_t = 50)]
        repeat: usize,
        #[arg(long, default_value = "claim")]
        label: String,
    },
    /// sqlx's SQLite driver against blocking rusqlite connections driven with `spawn_blocking`:
    /// point reads, PATCH-shaped write transactions and batched inserts, ABBA order.
    SqliteAb(sqlite_ab::AbArgs),
    /// Waits until `--url` answers 2xx; prints the time since `--since-unix-ms`.
    WaitUp {
        #[arg(long)]
        url: String,
        #[arg(long)]
        since_unix_ms: Option<u64>,
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Command::SqliteAb(args) = &cli.command {
        rt.worker_threads(args.workers.max(1));
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Baseline { listen, body_bytes } => baseline(listen, body_bytes).await,
            Command::Setup {
                rotad,
                emulator,
                rotations,
                concurrency,
                interval,
                out,
            } => setup::setup(&rotad, &emulator, rotations, concurrency, interval, &out).await,
            Command::Load(args) => load::run(args).await,
            Command::Rotate {
                rotad,
                state,
                concurrency,
                limit,
                label,
            } => setup::rotate(&rotad, &state, concurrency, limit, &label).await,
            Command::EmuBound {
                emulator,
                calls,
                jobs,
                concurrency,
                label,
            } => emu::emu_bound(&emulator, &calls, jobs, concurrency, &label).await,
            Command::WaitCalls {
                emulator,
                op,
                target,
                timeout_secs,
            } => wait::wait_calls(&emulator, &op, target, timeout_secs).await,
            Command::WaitRotations {
                metrics,
                target,
                since_unix_ms,
                timeout_secs,
                label,
            } => wait::wait_rotations(&metrics, target, since_unix_ms, timeout_secs, &label).await,
            Command::ClaimTime {
                database_url,
                limit,
                repeat,
                label,
            } => probe::claim_time(&database_url, limit, repeat, &label).await,
            Command::SqliteAb(args) => sqlite_ab::run(args).await,
            Command::WaitUp {
                url,
                since_unix_ms,
                timeout_secs,
            } => wait::wait_up(&url, since_unix_ms, timeout_secs).await,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// baseline

async fn baseline(listen: SocketAddr, body_bytes: usize) -> anyhow::Result<()> {
    use axum::http::header;
    use axum::routing::any;
    // `{"pad":"xxxx"}` padded to exactly `body_bytes` bytes.
    let pad = body_bytes.saturating_sub(r#"{"pad":""}"#.len());
    let body = bytes::Bytes::from(format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad)));
    let handler = move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    };
    let app = axum::Router::new()
        .route("/", any(handler.clone()))
        .route("/{*rest}", any(handler));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("baseline listening on {listen}");
    axum::serve(listener, app).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

pub(crate) const ROTATIONS: &str = "/api/v2/secret-rotations/dbt-service-token";

pub(crate) async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = http.request(method.clone(), &url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = res.status();
    let text = res.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status}: {text}");
    }
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    })
}

/// The emulator's `/_emulator/info` (account id, admin token).
pub(crate) async fn emulator_info(http: &reqwest::Client, emulator: &str) -> anyhow::Result<Value> {
    call(
        http,
        reqwest::Method::GET,
        format!("{emulator}/_emulator/info"),
        None,
        None,
    )
    .await
}

pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()?)
}
