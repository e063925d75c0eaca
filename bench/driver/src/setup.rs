//! `setup` (bootstrap a rotad over HTTP and create rotations) and `rotate` (manual rotations).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Value};

use crate::{call, emulator_info, http_client, load, ROTATIONS};

pub fn rotation_name(i: usize) -> String {
    format!("rot-{i:06}")
}

pub fn secret_name(i: usize) -> String {
    format!("ROT_{i:06}")
}

pub async fn setup(
    rotad: &str,
    emulator: &str,
    n: usize,
    concurrency: usize,
    interval: u32,
    out: &str,
) -> anyhow::Result<()> {
    let http = http_client()?;
    let info = emulator_info(&http, emulator).await?;
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

pub async fn rotate(
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
