//! `claim-time`: times rotad's own due-rotation claim (`claim_due_rotations`, the statement the
//! scheduler runs every tick) and its due-count gauge (`schedule_stats`) against a database,
//! through rotad's store code, so the SQL, the SQLite build and the driver are rotad's.
//!
//! Each claim is made with a lease that has already expired, so it leaves every row claimable
//! by the scheduler: the probe changes nothing a running rotad would notice.

use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::load::pct;

pub async fn claim_time(
    database_url: &str,
    limit: i64,
    repeat: usize,
    label: &str,
) -> anyhow::Result<()> {
    let store = rotad::store::connect(database_url)
        .await
        .with_context(|| format!("opening {database_url}"))?;
    let (mut claim, mut stats) = (Vec::new(), Vec::new());
    let (mut found, mut due) = (0usize, 0i64);
    for _ in 0..repeat.max(1) {
        let now = rotad::time::now_ms();
        let t = Instant::now();
        let rows = store
            .claim_due_rotations(now, "bench-probe", now - 1, limit)
            .await?;
        claim.push(t.elapsed().as_micros() as u64);
        found = rows.len();
        let t = Instant::now();
        due = store.schedule_stats(now).await?.due;
        stats.push(t.elapsed().as_micros() as u64);
    }
    let first_claim_ms = claim.first().copied().unwrap_or(0) as f64 / 1000.0;
    claim.sort_unstable();
    stats.sort_unstable();
    println!(
        "{}",
        json!({"label": label, "backend": store.backend(), "repeat": claim.len(),
               "limit": limit, "claimed": found, "due": due,
               "claim_first_ms": first_claim_ms,
               "claim_p50_ms": pct(&claim, 0.50), "claim_p99_ms": pct(&claim, 0.99),
               "claim_max_ms": pct(&claim, 1.0),
               "stats_p50_ms": pct(&stats, 0.50), "stats_max_ms": pct(&stats, 1.0)})
    );
    Ok(())
}
