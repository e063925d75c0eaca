//! The scheduler: timing, restarts, bounded retries with alerts, several replicas, SIGTERM,
//! time zones and metrics. Rotations are made due by moving `next_rotation_at` in the
//! database, as the passing of time would.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Days, Timelike, Utc};
use dbt_cloud_emulator::{Fault, Operation};
use rotad::config::TimeUnit;
use serde_json::{json, Value};

use crate::helpers::TestDb;
use crate::process::{attach, spawn_rotad, wait_ready};
use crate::rotation_support::{minted_as, Rig, ROTATIONS};
use crate::webhook_sink::Sink;

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

fn fast(args: &mut rotad::config::ServeArgs) {
    args.scheduler_poll_interval = Duration::from_millis(200);
}

/// Makes rotations due now (all of the rig's, or those named).
async fn make_due(db: &TestDb, ids: Option<&[String]>) {
    let due = Utc::now().timestamp_millis() - 1_000;
    let filter = match ids {
        Some(ids) => format!(
            " WHERE id IN ({})",
            ids.iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => String::new(),
    };
    db.execute(&format!(
        "UPDATE secret_rotations SET next_rotation_at = {due}{filter}"
    ))
    .await;
}

async fn wait_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates `n` rotations named `{prefix}-{i}`, 16 at a time; returns their ids in order.
async fn create_many(rig: &Rig, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = vec![String::new(); n];
    for start in (0..n).step_by(16) {
        let mut set = tokio::task::JoinSet::new();
        for i in start..n.min(start + 16) {
            let name = format!("{prefix}-{i}");
            let req = rig
                .app
                .http
                .post(format!("{}{ROTATIONS}", rig.app.base))
                .bearer_auth(&rig.app.token)
                .json(&rig.body(&name, &name.to_uppercase().replace('-', "_")));
            set.spawn(async move { (i, req.send().await.expect("create").json::<Value>().await) });
        }
        while let Some(res) = set.join_next().await {
            let (i, body) = res.expect("task");
            let body = body.expect("json");
            ids[i] = body["secretRotation"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_string();
        }
    }
    ids
}

/// Waits until the emulator has seen no call for half a second.
async fn wait_quiet(rig: &Rig) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        rig.emu.reset_calls();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if rig.emu.calls(Operation::Any) == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "dbt calls never stopped");
    }
}

/// Tokens the emulator holds per rotation token name (`{name}-token`).
/// (created, live) per rotation `tokenName` (dbt's names carry an intent suffix after it).
fn tokens_per_name(rig: &Rig) -> HashMap<String, (usize, usize)> {
    let mut out: HashMap<String, (usize, usize)> = HashMap::new();
    for t in rig.emu.tokens() {
        let Some((base, _)) = t.name.rsplit_once('-') else {
            continue;
        };
        if !base.ends_with("-token") || !minted_as(&t.name, base) {
            continue;
        }
        let e = out.entry(base.to_string()).or_default();
        e.0 += 1;
        e.1 += usize::from(t.state == 1);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_on_time_stops_when_disabled_and_follows_patches() {
    let poll = Duration::from_millis(500);
    let rig = Rig::with(|a| {
        a.rotation_time_unit = TimeUnit::Second;
        a.scheduler_poll_interval = poll;
    })
    .await;
    let mut body = rig.body("timed", "TIMED");
    body["rotationInterval"] = json!(3);
    let created = rig.app.post(ROTATIONS, body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Two scheduled rotations, each within one poll interval (plus a second) of its due time.
    let mut due = at(&created.body["secretRotation"]["nextRotationAt"]);
    let mut last = at(&created.body["secretRotation"]["lastRotatedAt"]);
    for round in 0..2 {
        let mut now = rig.get(&id).await.body;
        wait_for("a scheduled rotation", 15, async || {
            now = rig.get(&id).await.body;
            at(&now["secretRotation"]["lastRotatedAt"]) > last
        })
        .await;
        let rotated = at(&now["secretRotation"]["lastRotatedAt"]);
        let late = rotated - due;
        assert!(
            late >= Days::zero() && late <= Days::from_std(poll).expect("poll") + Days::seconds(1),
            "round {round}: due {due}, rotated {rotated}"
        );
        assert_eq!(now["secretRotation"]["isLastRotationManual"], false);
        assert_eq!(now["secretRotation"]["rotationStatus"], "success");
        rig.assert_invariants(&id, "TIMED", "timed-token").await;
        last = rotated;
        due = at(&now["secretRotation"]["nextRotationAt"]);
        assert_eq!(due, rotated + Days::seconds(3));
    }

    // Disabled: nextRotationAt is null and nothing more happens.
    let off = rig
        .app
        .patch(
            &format!("{ROTATIONS}/{id}"),
            json!({"isAutoRotationEnabled": false}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["secretRotation"]["nextRotationAt"], Value::Null);
    let creates = rig.emu.calls(Operation::TokenCreate);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        rig.emu.calls(Operation::TokenCreate),
        creates,
        "no rotation while disabled"
    );

    // Re-enabled with a longer interval: the next run moves to lastRotatedAt + 6 s and happens then.
    let last = at(&rig.get(&id).await.body["secretRotation"]["lastRotatedAt"]);
    let on = rig
        .app
        .patch(
            &format!("{ROTATIONS}/{id}"),
            json!({"isAutoRotationEnabled": true, "rotationInterval": 8}),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    let moved = at(&on.body["secretRotation"]["nextRotationAt"]);
    assert_eq!(moved, last + Days::seconds(8));
    let mut now = Value::Null;
    wait_for("the rescheduled rotation", 20, async || {
        now = rig.get(&id).await.body;
        at(&now["secretRotation"]["lastRotatedAt"]) > last
    })
    .await;
    let rotated = at(&now["secretRotation"]["lastRotatedAt"]);
    assert!(
        rotated >= moved,
        "not before the moved time: {rotated} < {moved}"
    );
    assert!(rotated - moved <= Days::from_std(poll).expect("poll") + Days::seconds(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_runs_nothing_early_and_each_overdue_rotation_once() {
    let mut rig = Rig::with(fast).await;
    let ids = create_many(&rig, "later", 1000).await;
    assert_eq!(ids.len(), 1000);
    // Quiet first (a loaded machine may still be answering the creations), so what follows
    // counts only the restart.
    wait_quiet(&rig).await;
    rig.app.restart().await;
    rig.emu.reset_calls();
    // A second of scheduler ticks and a maintenance pass: nothing is due, nothing is called.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls: Vec<(Operation, u64)> = Operation::CONCRETE
        .iter()
        .map(|op| (*op, rig.emu.calls(*op)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(calls.is_empty(), "a restart made dbt calls: {calls:?}");

    // Twenty overdue at the next start: each runs exactly once.
    rig.app.stop().await;
    let overdue: Vec<String> = ids[..20].to_vec();
    make_due(&rig.app.db, Some(&overdue)).await;
    rig.app.restart().await;
    wait_for("the overdue rotations", 30, async || {
        rig.emu.calls(Operation::TokenCreate) >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.emu.calls(Operation::TokenCreate), 20);
    let per_name = tokens_per_name(&rig);
    for i in 0..1000 {
        let expected = if i < 20 { 2 } else { 1 };
        assert_eq!(
            per_name[&format!("later-{i}-token")].0,
            expected,
            "later-{i}"
        );
    }
    for id in &overdue {
        let row = rig.get(id).await.body;
        assert_eq!(row["secretRotation"]["activeIndex"], 1, "{row}");
        assert!(at(&row["secretRotation"]["nextRotationAt"]) > Utc::now() + Days::days(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_back_off_then_succeed_with_one_alert() {
    let rig = Rig::with(fast).await;
    let sink = Sink::start().await;
    sink.subscribe(&rig.app, &rig.project, "/").await;
    let id = rig.rotation("flaky", "FLAKY").await;
    rig.emu
        .inject(Fault::status(Operation::TokenCreate, 500).times(2));
    make_due(&rig.app.db, Some(std::slice::from_ref(&id))).await;
    let mut row = Value::Null;
    wait_for("the third attempt to succeed", 30, async || {
        row = rig.get(&id).await.body;
        row["secretRotation"]["activeIndex"] == 1
    })
    .await;
    assert_eq!(row["secretRotation"]["rotationStatus"], "success");
    assert_eq!(row["secretRotation"]["lastRotationMessage"], Value::Null);
    assert_eq!(rig.emu.calls(Operation::TokenCreate), 1 + 3);
    rig.assert_invariants(&id, "FLAKY", "flaky-token").await;

    // One audit event per attempt, with growing gaps.
    let logs = rig
        .app
        .get("/api/v1/organization/audit-logs?eventType=secret-rotation-rotate-secrets&limit=100")
        .await;
    let mut attempts: Vec<(DateTime<Utc>, String)> = logs.body["auditLogs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter(|l| l["event"]["metadata"]["rotationId"] == id.as_str())
        .map(|l| {
            (
                at(&l["createdAt"]),
                l["event"]["metadata"]["status"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    attempts.sort();
    let statuses: Vec<&str> = attempts.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(statuses, ["failed", "failed", "success"]);
    let first_gap = attempts[1].0 - attempts[0].0;
    let second_gap = attempts[2].0 - attempts[1].0;
    assert!(first_gap >= Days::milliseconds(900), "{first_gap}");
    assert!(second_gap > first_gap, "{first_gap} then {second_gap}");

    // One rotation-failed webhook for the episode, signed, without dbt's words.
    wait_for("the alert", 10, async || {
        !sink.events("secrets.rotation-failed").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alerts = sink.events("secrets.rotation-failed");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["project"]["rotationName"], "flaky");
    assert_eq!(alert["project"]["rotationId"], id.as_str());
    assert_eq!(alert["project"]["rotationType"], "dbt-service-token");
    assert_eq!(alert["rotation"]["id"], id.as_str());
    assert_eq!(alert["rotation"]["name"], "flaky");
    assert_eq!(alert["rotation"]["type"], "dbt-service-token");
    assert_eq!(alert["project"]["triggeredManually"], false);
    assert_eq!(
        alert["project"]["errorMessage"],
        "Credential rotation failed due to an HTTP error (status 500). Check the rotation status in the dashboard for more details."
    );
    assert!(
        sink.all_signed(),
        "every delivery carries a valid signature"
    );
    // Consumers learn of the new token, and which rotation published it.
    let modified = sink.events("secrets.modified");
    assert!(
        modified.iter().any(|e| e["rotation"]["id"] == id.as_str()),
        "{modified:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_forever_is_bounded_and_every_episode_alerts() {
    let rig = Rig::with(|a| {
        fast(a);
        a.rotation_max_attempts = 3;
    })
    .await;
    let sink = Sink::start().await;
    sink.subscribe(&rig.app, &rig.project, "/**").await;
    let id = rig.rotation("doomed", "DOOMED").await;
    let published = rig.published("DOOMED").await;
    rig.emu
        .inject(Fault::status(Operation::TokenCreate, 503).times(1000));
    for episode in 1..=2 {
        make_due(&rig.app.db, Some(std::slice::from_ref(&id))).await;
        let mut row = Value::Null;
        wait_for("the episode to end in failure", 30, async || {
            row = rig.get(&id).await.body;
            row["secretRotation"]["rotationStatus"] == "failed"
                && rig.emu.calls(Operation::TokenCreate) == 1 + 3 * episode
        })
        .await;
        // No loop: the next try is upstream's "tomorrow at rotateAtUtc". (Read again: the
        // last create may have been counted before its failure was recorded.)
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(rig.emu.calls(Operation::TokenCreate), 1 + 3 * episode);
        row = rig.get(&id).await.body;
        let next = at(&row["secretRotation"]["nextRotationAt"]);
        let tomorrow = (Utc::now() + Days::days(1))
            .with_hour(0)
            .and_then(|d| d.with_minute(0))
            .and_then(|d| d.with_second(0))
            .and_then(|d| d.with_nanosecond(0))
            .expect("midnight");
        assert_eq!(next, tomorrow);
        assert!(row["secretRotation"]["lastRotationMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("Infisical encountered an issue")));
        assert_eq!(
            rig.published("DOOMED").await,
            published,
            "published token untouched"
        );
        assert!(rig.is_live(&published));
        wait_for("the episode's alert", 10, async || {
            sink.events("secrets.rotation-failed").len() as u64 == episode
        })
        .await;
    }
    assert_eq!(sink.events("secrets.rotation-failed").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_rotate_each_due_rotation_once() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    // A lease long enough that a loaded machine's slow writes never let it lapse under a
    // live replica; the killed replica's rotations are taken over once it expires.
    let env = [
        ("ROTAD_SCHEDULER_POLL_INTERVAL", "200ms"),
        ("ROTAD_SCHEDULER_CONCURRENCY", "16"),
        ("ROTAD_ROTATION_LEASE", "10s"),
    ];
    let mut a = spawn_rotad(&db, &key, &env);
    wait_ready(&a.base).await;
    let mut rig = attach(db, &key, &a.base).await;
    let b = spawn_rotad(&rig.app.db, &key, &env);
    wait_ready(&b.base).await;
    let ids = create_many(&rig, "fleet", 500).await;
    assert_eq!(ids.len(), 500);

    // All due at once, two replicas: one create per rotation, never two at once for one.
    make_due(&rig.app.db, None).await;
    wait_for("500 rotations", 120, async || {
        rig.emu.calls(Operation::TokenCreate) >= 1000
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.emu.calls(Operation::TokenCreate), 1000);
    for (name, (created, live)) in tokens_per_name(&rig) {
        assert_eq!((created, live), (2, 2), "{name}");
        assert!(rig.emu.max_concurrent_creates(&name) <= 1, "{name}");
    }

    // Again, and one replica is killed mid-run: the other finishes everything.
    rig.emu.set_latency(Duration::from_millis(20));
    make_due(&rig.app.db, None).await;
    wait_for("the run to be under way", 60, async || {
        rig.emu.calls(Operation::TokenCreate) >= 1100
    })
    .await;
    a.kill();
    rig.app.base = b.base.clone();
    wait_for("every rotation to have rotated twice", 120, async || {
        tokens_per_name(&rig)
            .values()
            .all(|(created, _)| *created >= 3)
    })
    .await;
    // Displaced tokens are revoked; nothing is lost track of (I3, I4).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let off: Vec<_> = tokens_per_name(&rig)
            .into_iter()
            .filter(|(_, (_, live))| *live != 2)
            .collect();
        if off.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let log: Vec<String> = b.lines.try_iter().collect();
            panic!(
                "not two live tokens (name, (created, live)): {off:?}\nreplica log:\n{}",
                log.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let creates = rig.emu.calls(Operation::TokenCreate);
    assert!(
        creates <= 1500 + 16,
        "at most the killed replica's in-flight creates repeat: {creates}"
    );
    for name in tokens_per_name(&rig).keys() {
        assert!(rig.emu.max_concurrent_creates(name) <= 1, "{name}");
    }
    let list = rig
        .app
        .get(&format!("{ROTATIONS}?projectId={}", rig.project))
        .await;
    let rows = list.body["secretRotations"]
        .as_array()
        .expect("rows")
        .clone();
    assert_eq!(rows.len(), 500);
    for row in &rows {
        assert_eq!(row["rotationStatus"], "success", "{row}");
        assert_eq!(row["activeIndex"], 0, "rotated exactly twice: {row}");
    }
    for id in ids.iter().step_by(50) {
        let name = rig.get(id).await.body["secretRotation"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        rig.assert_invariants(
            id,
            &name.to_uppercase().replace('-', "_"),
            &format!("{name}-token"),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_rotation_in_flight_and_exits_zero() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let env = [
        ("ROTAD_SCHEDULER_POLL_INTERVAL", "200ms"),
        // Longer than the 2 s dbt latency below.
        ("ROTAD_DBT_REQUEST_TIMEOUT", "10s"),
    ];
    let mut server = spawn_rotad(&db, &key, &env);
    wait_ready(&server.base).await;
    let rig = attach(db, &key, &server.base).await;
    let id = rig.rotation("graceful", "GRACEFUL").await;
    rig.emu.set_latency(Duration::from_secs(2));
    let creates = rig.emu.calls(Operation::TokenCreate);
    make_due(&rig.app.db, Some(std::slice::from_ref(&id))).await;
    wait_for("the scheduled create to start", 10, async || {
        rig.emu.calls(Operation::TokenCreate) > creates
    })
    .await;
    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "rotad did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    // The rotation in flight finished before the exit.
    rig.emu.set_latency(Duration::ZERO);
    let restarted = spawn_rotad(&rig.app.db, &key, &env);
    wait_ready(&restarted.base).await;
    let mut rig = rig;
    rig.app.base = restarted.base.clone();
    let (slots, active) = rig.slots(&id).await;
    assert_eq!((slots.len(), active), (2, 1));
    rig.assert_invariants(&id, "GRACEFUL", "graceful-token")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_rotation_is_the_same_in_any_time_zone() {
    let db = TestDb::new().await;
    let key = rotad::crypto::RootKey::generate_base64();
    let server = spawn_rotad(&db, &key, &[("TZ", "Pacific/Kiritimati")]);
    wait_ready(&server.base).await;
    let rig = attach(db, &key, &server.base).await;
    for (hours, minutes) in [(0, 0), (13, 30), (23, 59)] {
        let mut body = rig.body(
            &format!("tz-{hours}-{minutes}"),
            &format!("TZ_{hours}_{minutes}"),
        );
        body["rotateAtUtc"] = json!({"hours": hours, "minutes": minutes});
        let res = rig.app.post(ROTATIONS, body).await;
        assert_eq!(res.status, 200, "{}", res.body);
        let row = &res.body["secretRotation"];
        let last = at(&row["lastRotatedAt"]);
        // Upstream's formula in UTC: that day at hh:mm, plus 30 days, plus one when the
        // creation happened at or after hh:mm.
        let slot = last
            .with_hour(hours)
            .and_then(|d| d.with_minute(minutes))
            .and_then(|d| d.with_second(0))
            .and_then(|d| d.with_nanosecond(0))
            .expect("slot");
        let extra = i64::from(last >= slot);
        assert_eq!(
            at(&row["nextRotationAt"]),
            slot + Days::days(30 + extra),
            "{row}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_rotations_calls_backlog_and_requests() {
    let rig = Rig::with(|a| {
        a.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        a.scheduler_poll_interval = Duration::from_secs(3600);
    })
    .await;
    let id = rig.rotation("metered", "METERED").await;
    let later = rig.rotation("overdue", "OVERDUE").await;
    assert_eq!(rig.rotate(&id).await.status, 200);
    make_due(&rig.app.db, Some(std::slice::from_ref(&later))).await;
    let addr = rig
        .app
        .server
        .as_ref()
        .and_then(|s| s.metrics_addr)
        .expect("metrics address");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    for line in [
        "rotad_rotations_total{result=\"success\"} 1",
        "rotad_rotations_by_type_total{result=\"success\",type=\"dbt-service-token\"} 1",
        "rotad_rotation_duration_seconds_count 1",
        // Two creations and one rotation.
        "rotad_dbt_calls_total{operation=\"token_create\",status=\"ok\"} 3",
        "rotad_rotations_due 1",
        "rotad_revocation_queue_length 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains(
        "rotad_http_requests_total{method=\"POST\",route=\"/api/v2/secret-rotations/dbt-service-token/{rotationId}/rotate-secrets\",status=\"200\"} 1"
    ), "{text}");
    let overdue = text
        .lines()
        .find_map(|l| l.strip_prefix("rotad_rotation_oldest_overdue_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("oldest overdue gauge");
    assert!(overdue >= 1.0, "{overdue}");
}
