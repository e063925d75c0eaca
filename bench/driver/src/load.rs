//! Closed-loop HTTP/1.1 load: `--connections` keep-alive connections, each sending its next
//! request as soon as the previous answer is read, for `--warmup` then `--duration` seconds.
//! Only answers sent after the warm-up count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// `http://127.0.0.1:PORT/path?query`.
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// JSON body; `{n}` is replaced by a per-request counter.
    #[arg(long)]
    body: Option<String>,
    /// Bearer token.
    #[arg(long)]
    token: Option<String>,
    /// A `Cookie` header to send (the dashboard's session: `rotad_session=...`).
    #[arg(long)]
    cookie: Option<String>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Name of the row in the output.
    #[arg(long, default_value = "load")]
    label: String,
}

/// Percentile of sorted microseconds, in milliseconds.
pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

struct Target {
    host: String,
    authority: HeaderValue,
    path: String,
    method: Method,
    body: Option<String>,
    auth: Option<HeaderValue>,
    cookie: Option<HeaderValue>,
}

fn parse(args: &LoadArgs) -> anyhow::Result<Target> {
    let rest = args
        .url
        .strip_prefix("http://")
        .context("only http:// URLs")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok(Target {
        host: authority.to_string(),
        authority: HeaderValue::from_str(authority)?,
        path: path.to_string(),
        method: Method::from_bytes(args.method.as_bytes())?,
        body: args.body.clone(),
        auth: args
            .token
            .as_deref()
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()?,
        cookie: args
            .cookie
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()?,
    })
}

#[derive(Default)]
struct Tally {
    ok: u64,
    non_2xx: u64,
    errors: u64,
    bytes: u64,
    lat: Vec<u64>,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let target = Arc::new(parse(&args)?);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let counter = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (target, counter, first_error) = (target.clone(), counter.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            // Reconnect after a broken connection; bounded by the deadline.
            while Instant::now() < until {
                if let Err(e) = connection(&target, &counter, measure_from, until, &mut tally).await
                {
                    tally.errors += 1;
                    first_error
                        .lock()
                        .map(|mut f| {
                            f.get_or_insert(format!("{e:#}"));
                        })
                        .ok();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.ok += t.ok;
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
        all.bytes += t.bytes;
        all.lat.extend(t.lat);
    }
    all.lat.sort_unstable();
    let secs = args.duration as f64;
    let n = all.lat.len() as u64;
    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    println!(
        "{}",
        json!({
            "label": args.label,
            "connections": args.connections,
            "seconds": secs,
            "requests": n,
            "ok": all.ok,
            "non_2xx": all.non_2xx,
            "errors": all.errors,
            "rps": n as f64 / secs,
            "p50_ms": pct(&all.lat, 0.50),
            "p90_ms": pct(&all.lat, 0.90),
            "p99_ms": pct(&all.lat, 0.99),
            "max_ms": pct(&all.lat, 1.0),
            "mean_body_bytes": if n > 0 { all.bytes / n.max(1) } else { 0 },
            "first_error": first_error,
        })
    );
    Ok(())
}

async fn connection(
    target: &Target,
    counter: &AtomicU64,
    measure_from: Instant,
    until: Instant,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let stream = TcpStream::connect(&target.host).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    loop {
        let t = Instant::now();
        if t >= until {
            return Ok(());
        }
        sender.ready().await?;
        let body = match &target.body {
            Some(b) => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                Bytes::from(b.replace("{n}", &n.to_string()))
            }
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(target.method.clone())
            .uri(&target.path)
            .header(HOST, target.authority.clone());
        if target.body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(a) = &target.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        if let Some(c) = &target.cookie {
            req = req.header(hyper::header::COOKIE, c.clone());
        }
        let req = req.body(Full::new(body))?;
        let t = Instant::now();
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        let done = Instant::now();
        if t >= measure_from && done <= until {
            tally.lat.push((done - t).as_micros() as u64);
            tally.bytes += body.len() as u64;
            if status.is_success() {
                tally.ok += 1;
            } else {
                tally.non_2xx += 1;
            }
        }
    }
}
