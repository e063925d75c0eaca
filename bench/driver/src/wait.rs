//! Waiting subcommands: `wait-calls` (emulator call counts), `wait-rotations` (rotad's
//! rotation counters on `/metrics`) and `wait-up` (a URL answering 2xx, for start-up time).

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::{call, http_client};

pub async fn wait_calls(emulator: &str, op: &str, target: u64, timeout: u64) -> anyhow::Result<()> {
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

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds from `since` (Unix ms, or this process's start) to now.
fn elapsed_since(since: Option<u64>, started: Instant) -> f64 {
    match since {
        Some(t0) => unix_ms().saturating_sub(t0) as f64 / 1000.0,
        None => started.elapsed().as_secs_f64(),
    }
}

/// The value of one sample line `name value` of a Prometheus text exposition.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .next()
        .unwrap_or(0)
}

pub async fn wait_rotations(
    metrics: &str,
    target: u64,
    since: Option<u64>,
    timeout: u64,
    label: &str,
) -> anyhow::Result<()> {
    let http = http_client()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout);
    loop {
        let text = http
            .get(format!("{metrics}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let ok = sample(&text, r#"rotad_rotations_total{result="success"}"#);
        let failed = sample(&text, r#"rotad_rotations_total{result="failed"}"#);
        if ok + failed >= target {
            let secs = elapsed_since(since, started);
            println!(
                "{}",
                json!({"label": label, "succeeded": ok, "failed": failed, "seconds": secs})
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out: {ok} succeeded + {failed} failed < {target} after {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_up(url: &str, since: Option<u64>, timeout: u64) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(timeout);
    loop {
        if let Ok(res) = http.get(url).send().await {
            if res.status().is_success() {
                println!(
                    "{}",
                    json!({"url": url, "seconds": elapsed_since(since, started)})
                );
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!("timed out: {url} did not answer 2xx within {timeout}s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
