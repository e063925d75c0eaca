//! What one scheduled rotation costs the database (docs/ARCHITECTURE.md, "Statement budget"):
//! the statements it makes and, on SQLite, its trips to the single writer connection, from the
//! claim that hands it out to the revocation of the token it displaces. Attributed by span
//! (`statements`), so the scheduler's empty polls, the outbox and revocation workers and the
//! maintenance loop never count, however they interleave.

use std::time::{Duration, Instant};

use crate::helpers::TestDb;
use crate::rotation_support::Rig;
use crate::statements::{self, Kind, Record};

/// Statements per scheduled rotation (transaction control not counted: SQLite's driver does not
/// trace it, PostgreSQL adds one `COMMIT`). One per table write and no reads: the claim, which
/// reads everything the pass needs; the intent, then its credential, before and right after dbt
/// is called (a crash anywhere leaves something to resume or sweep); the commit, one transaction
/// of five (the rotation, the published secret, its version row, the intent's queue entry turned
/// into the displaced token's revocation, the audit entry). Once dbt confirms the revocation, the queue entry leaves
/// the queue in a batch with other rotations' (one statement per batch, not counted here).
const STATEMENTS: usize = 8;
/// PostgreSQL's commit also tells the other replicas what changed (`pg_notify`, for their read
/// caches; docs/ARCHITECTURE.md, "Caches").
const PG_NOTIFY: usize = 1;
/// Trips to SQLite's writer per scheduled rotation: claim, intent, credential, commit.
const WRITER_TRIPS: usize = 4;

/// Writer trips among one rotation's `records` on PostgreSQL, which has no single writer: the
/// connection hand-outs that wrote (a transaction, or a lone write statement).
fn pg_writer_trips(records: &[Record]) -> usize {
    let mut trips = 0;
    let mut wrote = false;
    for r in records {
        match &r.kind {
            Kind::Acquire => {
                trips += usize::from(wrote);
                wrote = false;
            }
            Kind::Statement(sql) => {
                wrote |= r.is_write() || sql.trim_start().to_ascii_uppercase().starts_with("COMMIT")
            }
            _ => {}
        }
    }
    trips + usize::from(wrote)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_rotation_stays_within_its_statement_budget() {
    statements::install();
    let rig = Rig::with(|a| a.scheduler_poll_interval = Duration::from_millis(100)).await;
    let id = rig.rotation("budget", "BUDGET").await;
    // A manual rotation first fills both slots, so the scheduled one displaces a token.
    let manual = rig.rotate(&id).await;
    assert_eq!(manual.status, 200, "{}", manual.body);
    let (slots, active) = rig.slots(&id).await;
    let displaced = slots[(1 - active) as usize]["serviceToken"]
        .as_str()
        .expect("the inactive slot")
        .to_string();

    let mark = statements::mark();
    let due = chrono::Utc::now().timestamp_millis() - 1_000;
    rig.app
        .db
        .execute(&format!(
            "UPDATE secret_rotations SET next_rotation_at = {due} WHERE id = '{id}'"
        ))
        .await;
    // The scheduler claims and rotates it; its span closes when the attempt is over.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !statements::since(mark)
        .iter()
        .any(|r| r.kind == Kind::RotationDone && r.rotation.as_deref() == Some(id.as_str()))
    {
        assert!(Instant::now() < deadline, "the scheduler never rotated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(row["rotationStatus"], "success", "{row}");
    assert_eq!(row["isLastRotationManual"], false, "{row}");
    assert_eq!(
        rig.token(&displaced).map(|t| t.state),
        Some(2),
        "the displaced token is revoked within the rotation"
    );
    rig.assert_invariants(&id, "BUDGET", "budget-token").await;

    let ours = statements::of_rotation(&statements::since(mark), &id);
    let sql: Vec<&Record> = ours
        .iter()
        .filter(|r| r.sql().is_some() && !r.is_transaction_control())
        .collect();
    let (backend, trips, budget) = match &rig.app.db {
        TestDb::Sqlite { .. } => (
            "sqlite",
            ours.iter().filter(|r| r.kind == Kind::WriterTrip).count(),
            STATEMENTS,
        ),
        TestDb::Postgres { .. } => ("postgres", pg_writer_trips(&ours), STATEMENTS + PG_NOTIFY),
    };
    let listing: String = ours.iter().map(|r| format!("\n  {r}")).collect();
    let report = format!(
        "{backend}: one scheduled rotation made {} statements and {} writer trips \
         (budget {budget} and {WRITER_TRIPS}):{listing}",
        sql.len(),
        trips,
    );
    eprintln!("{report}");
    assert!(sql.len() <= budget, "{report}");
    assert!(trips <= WRITER_TRIPS, "{report}");
    if backend == "sqlite" {
        // The counter /metrics shows saw at least these trips.
        assert!(
            rotad::metrics::global().writer_trips() >= trips as u64,
            "rotad_store_writer_trips_total counts every trip"
        );
    }
    // The displaced token's queue entry leaves the queue with the next batch.
    let store = rig.server().store.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let queued = store
            .schedule_stats(i64::MAX)
            .await
            .expect("queue length")
            .revocations;
        if queued == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{queued} confirmed revocations never left the queue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_dbt_client_serves_a_connection_until_it_is_edited() {
    let rig = Rig::new().await;
    let id = rig.rotation("reused", "REUSED").await;
    let engine = rig.server().engine.clone();
    let built = engine.clients_built();
    assert!(built >= 1, "the creation built the connection's client");
    for _ in 0..3 {
        let res = rig.rotate(&id).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    assert_eq!(
        engine.clients_built(),
        built,
        "rotations and revocations reuse the connection's client"
    );
    // An edit (a new version of the connection) gets a client of its own, once.
    let edited = rig
        .app
        .patch(
            &format!("/api/v1/app-connections/dbt/{}", rig.connection),
            serde_json::json!({"description": "edited"}),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    for _ in 0..2 {
        let res = rig.rotate(&id).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    assert_eq!(engine.clients_built(), built + 1);
    rig.assert_invariants(&id, "REUSED", "reused-token").await;
}
