//! `driver`: the load driver of rotad's benchmarks (`bench/run.sh`).
//!
//! - `baseline`: a minimal axum server answering every GET/PATCH with a JSON body of a given size.
//! - `setup`: bootstraps a rotad instance over HTTP (project, dbt connection, N rotations).
//! - `load`: fixed-duration closed-loop load on one URL over N keep-alive connections; prints
//!   one JSON line with req/s and latency percentiles.
//! - `rotate`: manual `rotate-secrets` on distinct rotations, N at a time.
//! - `emu-bound`: the dbt calls a batch of rotations makes, made directly against the emulator.
//! - `wait-calls`: waits until the emulator has counted a number of calls of one kind.
//!
//! Everything talks to 127.0.0.1 only; every loop is bounded in count and time.

mod load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
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
            } => setup(&rotad, &emulator, rotations, concurrency, interval, &out).await,
            Command::Load(args) => load::run(args).await,
            Command::Rotate {
                rotad,
                state,
                concurrency,
                limit,
                label,
            } => rotate(&rotad, &state, concurrency, limit, &label).await,
            Command::EmuBound {
                emulator,
                calls,
                jobs,
                concurrency,
                label,
            } => emu_bound(&emulator, &calls, jobs, concurrency, &label).await,
            Command::WaitCalls {
                emulator,
                op,
                target,
                timeout_secs,
            } => wait_calls(&emulator, &op, target, timeout_secs).await,
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
// setup over HTTP

const ROTATIONS: &str = "/api/v2/secret-rotations/dbt-service-token";

async fn call(
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

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()?)
}

pub fn rotation_name(i: usize) -> String {
    format!("rot-{i:06}")
}

pub fn secret_name(i: usize) -> String {
    format!("ROT_{i:06}")
}

async fn setup(
    rotad: &str,
    emulator: &str,
    n: usize,
    concurrency: usize,
    interval: u32,
    out: &str,
) -> anyhow::Result<()> {
    let http = http_client()?;
    let info = call(
        &http,
        reqwest::Method::GET,
        format!("{emulator}/_emulator/info"),
        None,
        None,
    )
    .await?;
    let boot = call(
        &http,
        reqwest::Method::POST,
        format!("{rotad}/api/v1/admin/bootstrap"),
        None,
        Some(json!({"organization": "bench"})),
    )
    .await?;
    let token = boot["identity"]["credentials"]["token"]
        .as_str()
        .context("bootstrap token")?
        .to_string();
    let project = call(
        &http,
        reqwest::Method::POST,
        format!("{rotad}/api/v2/workspace"),
        Some(&token),
        Some(json!({"projectName": "bench"})),
    )
    .await?["project"]["id"]
        .as_str()
        .context("project id")?
        .to_string();
    let connection = call(
        &http,
        reqwest::Method::POST,
        format!("{rotad}/api/v1/app-connections/dbt"),
        Some(&token),
        Some(
            json!({"name": "dbt-bench", "method": "api-token", "credentials": {
            "instanceUrl": emulator,
            "accountId": info["account_id"].to_string(),
            "apiToken": info["admin_token"]}}),
        ),
    )
    .await?["appConnection"]["id"]
        .as_str()
        .context("connection id")?
        .to_string();

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (http, next, token) = (http.clone(), next.clone(), token.clone());
        let (rotad, project, connection) = (rotad.to_string(), project.clone(), connection.clone());
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = json!({
                    "name": rotation_name(i),
                    "projectId": project,
                    "connectionId": connection,
                    "environment": "dev",
                    "secretPath": "/",
                    "isAutoRotationEnabled": true,
                    "rotationInterval": interval,
                    "rotateAtUtc": {"hours": 0, "minutes": 0},
                    "parameters": {"tokenName": format!("{}-token", rotation_name(i)),
                        "permissionGrants": [{"permissionSet": "job_runner", "projectId": 1}]},
                    "secretsMapping": {"serviceToken": secret_name(i)},
                });
                let res = call(
                    &http,
                    reqwest::Method::POST,
                    format!("{rotad}{ROTATIONS}"),
                    Some(&token),
                    Some(body),
                )
                .await?;
                let id = res["secretRotation"]["id"]
                    .as_str()
                    .context("rotation id")?
                    .to_string();
                made.push((i, id));
            }
            anyhow::Ok(made)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    let secs = started.elapsed().as_secs_f64();
    let ids: Vec<String> = all.into_iter().map(|(_, id)| id).collect();
    std::fs::write(
        out,
        serde_json::to_vec(&json!({
            "token": token, "project": project, "connection": connection, "rotations": ids,
        }))?,
    )?;
    println!(
        "{}",
        json!({"label": "setup", "rotations": n, "seconds": secs, "per_second": n as f64 / secs})
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// manual rotations

async fn rotate(
    rotad: &str,
    state: &str,
    concurrency: usize,
    limit: Option<usize>,
    label: &str,
) -> anyhow::Result<()> {
    let state: Value = serde_json::from_slice(&std::fs::read(state)?)?;
    let token = state["token"].as_str().context("token")?.to_string();
    let mut ids: Vec<String> = state["rotations"]
        .as_array()
        .context("rotations")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if let Some(l) = limit {
        ids.truncate(l);
    }
    let ids = Arc::new(ids);
    let http = http_client()?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (http, next, token, ids) = (http.clone(), next.clone(), token.clone(), ids.clone());
        let rotad = rotad.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                let t = Instant::now();
                let res = http
                    .post(format!("{rotad}{ROTATIONS}/{id}/rotate-secrets"))
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if failed < 3 {
                            eprintln!("rotate {id}: {status} {text}");
                        }
                        failed += 1;
                    }
                    Err(e) => {
                        if failed < 3 {
                            eprintln!("rotate {id}: {e}");
                        }
                        failed += 1;
                    }
                }
                lat.push(t.elapsed().as_micros() as u64);
            }
            (ok, failed, lat)
        }));
    }
    let (mut ok, mut failed, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await?;
        ok += o;
        failed += f;
        lat.extend(l);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "{}",
        json!({"label": label, "rotations": ok, "failed": failed, "seconds": secs,
               "per_second": ok as f64 / secs,
               "p50_ms": load::pct(&lat, 0.50), "p99_ms": load::pct(&lat, 0.99)})
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// emulator-only bound

/// The emulator's call counts that a job replays, in the order a rotation makes them.
const OPS: [&str; 6] = [
    "account_get",
    "token_list",
    "token_create",
    "token_get",
    "token_update",
    "token_delete",
];

async fn emu_bound(
    emulator: &str,
    calls: &str,
    jobs: usize,
    concurrency: usize,
    label: &str,
) -> anyhow::Result<()> {
    let http = http_client()?;
    let info = call(
        &http,
        reqwest::Method::GET,
        format!("{emulator}/_emulator/info"),
        None,
        None,
    )
    .await?;
    let account = info["account_id"].as_i64().context("account_id")?;
    let admin = info["admin_token"]
        .as_str()
        .context("admin_token")?
        .to_string();
    let totals: BTreeMap<String, u64> = serde_json::from_slice(&std::fs::read(calls)?)?;
    let totals: Vec<u64> = OPS
        .iter()
        .map(|op| totals.get(*op).copied().unwrap_or(0))
        .collect();
    let totals = Arc::new(totals);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (http, next, totals, admin) =
            (http.clone(), next.clone(), totals.clone(), admin.clone());
        let base = format!("{emulator}/api");
        tasks.push(tokio::spawn(async move {
            let mut made = 0u64;
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= jobs {
                    break;
                }
                // This job's share of each total, spread evenly across jobs.
                let share = |t: u64| {
                    let (j, n) = (j as u64, jobs as u64);
                    (j + 1) * t / n - j * t / n
                };
                let mut created: Option<i64> = None;
                for (k, op) in OPS.iter().enumerate() {
                    for _ in 0..share(totals[k]) {
                        let tokens = format!("{base}/v3/accounts/{account}/service-tokens/");
                        let one = |id: Option<i64>| {
                            format!("{tokens}{}/", id.unwrap_or(999_999_999))
                        };
                        let req = match *op {
                            "account_get" => http.get(format!("{base}/v2/accounts/{account}/")),
                            "token_list" => http.get(&tokens),
                            "token_create" => http.post(&tokens).json(&json!({
                                "name": format!("bound-{j}-token"),
                                "permission_grants": [{"permission_set": "job_runner", "project_id": 1}]})),
                            "token_get" => http.get(one(created)),
                            "token_update" => http
                                .put(one(created))
                                .json(&json!({"name": format!("bound-{j}-renamed")})),
                            _ => http.delete(one(created)),
                        };
                        let res = req
                            .header("Authorization", format!("Token {admin}"))
                            .send()
                            .await?;
                        let body: Value = res.json().await.unwrap_or(Value::Null);
                        if *op == "token_create" {
                            created = body["data"]["id"].as_i64();
                        }
                        made += 1;
                    }
                }
            }
            anyhow::Ok(made)
        }));
    }
    let mut made = 0;
    for t in tasks {
        made += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"label": label, "jobs": jobs, "calls": made, "seconds": secs,
               "per_second": jobs as f64 / secs})
    );
    Ok(())
}

async fn wait_calls(emulator: &str, op: &str, target: u64, timeout: u64) -> anyhow::Result<()> {
    let http = http_client()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout);
    loop {
        let calls = call(
            &http,
            reqwest::Method::GET,
            format!("{emulator}/_emulator/calls"),
            None,
            None,
        )
        .await?;
        let n = calls[op].as_u64().unwrap_or(0);
        if n >= target {
            println!(
                "{}",
                json!({"op": op, "count": n, "seconds": started.elapsed().as_secs_f64()})
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out: {op} = {n} < {target} after {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
