//! `emu-bound`: the dbt calls of a batch of rotations, made directly against the emulator.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::{json, Value};

use crate::{emulator_info, http_client};

/// The emulator's call counts that a job replays, in the order a rotation makes them.
const OPS: [&str; 7] = [
    "account_get",
    "project_list",
    "token_list",
    "token_create",
    "token_get",
    "token_update",
    "token_delete",
];

pub async fn emu_bound(
    emulator: &str,
    calls: &str,
    jobs: usize,
    concurrency: usize,
    label: &str,
) -> anyhow::Result<()> {
    let http = http_client()?;
    let info = emulator_info(&http, emulator).await?;
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
                            "project_list" => {
                                http.get(format!("{base}/v3/accounts/{account}/projects/"))
                            }
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
