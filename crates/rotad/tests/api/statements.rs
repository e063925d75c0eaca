//! Every SQL statement the server makes, as sqlx traces it (target `sqlx::query`), every
//! acquisition of SQLite's writer connection (target `rotad::store::writer`) and every hand-out
//! of the PostgreSQL pool (target `sqlx::pool::acquire`), recorded with the
//! spans they happened in: a rotation's own (`rotation`, with its `rotation_id`) or the
//! scheduler's claim (`claim`). sqlx traces a statement in the span of the task that made it
//! (on SQLite its worker thread enters the caller's span), so a test can tell one rotation's
//! statements from those of the background loops without timing anything.
//!
//! [`install`] sets a global subscriber once per process (nextest runs one test per process);
//! [`mark`] and [`since`] read the log from a point on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const STATEMENT_TARGET: &str = "sqlx::query";
/// sqlx's event for a pool hand-out (the PostgreSQL pool traces each one).
const ACQUIRE_TARGET: &str = "sqlx::pool::acquire";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// One SQL statement (its text).
    Statement(String),
    /// One acquisition of SQLite's writer connection.
    WriterTrip,
    /// A connection handed out by the PostgreSQL pool (reads and writes alike).
    Acquire,
    /// A `rotation` span closed: its attempt is over.
    RotationDone,
    /// The scheduler's claim (the `claim` span it is in) handed out this `rotation`.
    Claimed,
}

/// One traced happening, with where it happened.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub rows_returned: u64,
    pub rows_affected: u64,
    /// The `rotation_id` of the innermost `rotation` span around it, if any.
    pub rotation: Option<String>,
    /// The number of the `claim` span around it, if any (one per scheduler claim).
    pub claim: Option<u64>,
    /// Whether it happened while an HTTP request was served (inside tower-http's `request`
    /// span).
    pub request: bool,
}

impl Record {
    pub fn sql(&self) -> Option<&str> {
        match &self.kind {
            Kind::Statement(sql) => Some(sql),
            _ => None,
        }
    }

    /// Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints): PostgreSQL sends it as
    /// statements, SQLite's driver does not trace it.
    pub fn is_transaction_control(&self) -> bool {
        self.sql().is_some_and(|sql| {
            let head = sql.trim_start().to_ascii_uppercase();
            [
                "BEGIN",
                "COMMIT",
                "ROLLBACK",
                "SAVEPOINT",
                "RELEASE",
                "START TRANSACTION",
            ]
            .iter()
            .any(|k| head.starts_with(k))
        })
    }

    /// A statement that changes rows.
    pub fn is_write(&self) -> bool {
        self.sql().is_some_and(|sql| {
            let head = sql.trim_start().to_ascii_uppercase();
            ["INSERT", "UPDATE", "DELETE"]
                .iter()
                .any(|k| head.starts_with(k))
        })
    }
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Statement(sql) => write!(
                f,
                "{} [returned {}, affected {}]",
                sql.split_whitespace().collect::<Vec<_>>().join(" "),
                self.rows_returned,
                self.rows_affected
            ),
            Kind::WriterTrip => write!(f, "-- writer trip"),
            Kind::Acquire => write!(f, "-- connection acquired"),
            Kind::RotationDone => write!(f, "-- rotation attempt over"),
            Kind::Claimed => write!(f, "-- claimed"),
        }
    }
}

fn log() -> &'static Mutex<Vec<Record>> {
    static LOG: OnceLock<Mutex<Vec<Record>>> = OnceLock::new();
    LOG.get_or_init(Mutex::default)
}

/// Installs the recording subscriber (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Recorder.with_filter(Wanted));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test process");
    });
}

/// A point in the log.
pub fn mark() -> usize {
    log().lock().map(|l| l.len()).unwrap_or(0)
}

/// Everything recorded since `mark`.
pub fn since(mark: usize) -> Vec<Record> {
    log()
        .lock()
        .map(|l| l.get(mark..).map(<[Record]>::to_vec).unwrap_or_default())
        .unwrap_or_default()
}

/// The statements made inside a request's span since `mark`: transaction control is not
/// counted, nor the `PRAGMA`s a connection the pool opens sets itself up with (not the
/// request's cost).
pub fn of_requests_since(mark: usize) -> Vec<String> {
    since(mark)
        .iter()
        .filter(|r| r.request && !r.is_transaction_control())
        .filter_map(Record::sql)
        .filter(|sql| !sql.trim_start().starts_with("PRAGMA"))
        .map(str::to_string)
        .collect()
}

/// What the recorder wants: sqlx's statements, the writer's trips, and the spans that say
/// which rotation (or claim) they belong to. Nothing else is enabled.
struct Wanted;

impl<S> Filter<S> for Wanted {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        match meta.target() {
            STATEMENT_TARGET | ACQUIRE_TARGET => meta.is_event(),
            rotad::store::WRITER_TRIP_TARGET => meta.is_event(),
            rotad::services::rotations::ROTATION_SPAN_TARGET => true,
            target if target.starts_with("tower_http::trace") => {
                meta.is_span() && meta.name() == "request"
            }
            _ => false,
        }
    }
}

/// The `rotation_id` of a `rotation` span, kept in its extensions.
struct RotationId(String);

/// A `claim` span's number, unique in the process (span ids are reused once a span closes).
struct ClaimNumber(u64);

struct Recorder;

#[derive(Default)]
struct Fields {
    summary: String,
    statement: String,
    rotation_id: Option<String>,
    rows_returned: u64,
    rows_affected: u64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            "rotation_id" => self.rotation_id = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "rotation_id" {
            self.rotation_id = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        static CLAIMS: AtomicU64 = AtomicU64::new(0);
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let Some(span) = ctx.span(id) else { return };
        if let Some(rotation_id) = fields.rotation_id {
            span.extensions_mut().insert(RotationId(rotation_id));
        }
        if span.name() == "claim" {
            let number = CLAIMS.fetch_add(1, Ordering::Relaxed);
            span.extensions_mut().insert(ClaimNumber(number));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let kind = match event.metadata().target() {
            STATEMENT_TARGET => {
                // sqlx puts a statement's first words in `summary`, and the whole text in
                // `db.statement` when the summary is not all of it.
                let sql = if fields.statement.trim().is_empty() {
                    fields.summary
                } else {
                    fields.statement.trim().to_string()
                };
                Kind::Statement(sql)
            }
            rotad::store::WRITER_TRIP_TARGET => Kind::WriterTrip,
            ACQUIRE_TARGET => Kind::Acquire,
            rotad::services::rotations::ROTATION_SPAN_TARGET => Kind::Claimed,
            _ => return,
        };
        // A claim's event names the rotation it handed out; anything else belongs to the
        // rotation whose span it is in.
        let (mut rotation, mut claim) =
            (fields.rotation_id.filter(|_| kind == Kind::Claimed), None);
        let mut request = false;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                match span.name() {
                    "rotation" if rotation.is_none() => {
                        rotation = span.extensions().get::<RotationId>().map(|r| r.0.clone());
                    }
                    "claim" if claim.is_none() => {
                        claim = span.extensions().get::<ClaimNumber>().map(|c| c.0);
                    }
                    "request" => request = true,
                    _ => {}
                }
            }
        }
        push(Record {
            kind,
            rows_returned: fields.rows_returned,
            rows_affected: fields.rows_affected,
            rotation,
            claim,
            request,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.name() != "rotation" {
            return;
        }
        let rotation = span.extensions().get::<RotationId>().map(|r| r.0.clone());
        push(Record {
            kind: Kind::RotationDone,
            rows_returned: 0,
            rows_affected: 0,
            rotation,
            claim: None,
            request: false,
        });
    }
}

fn push(record: Record) {
    if let Ok(mut log) = log().lock() {
        log.push(record);
    }
}

/// The records of one rotation attempt among `records`: those in its `rotation` span, and those
/// of the scheduler claim that handed it out.
pub fn of_rotation(records: &[Record], rotation_id: &str) -> Vec<Record> {
    let claims: Vec<u64> = records
        .iter()
        .filter(|r| r.kind == Kind::Claimed && r.rotation.as_deref() == Some(rotation_id))
        .filter_map(|r| r.claim)
        .collect();
    records
        .iter()
        .filter(|r| {
            !matches!(r.kind, Kind::RotationDone | Kind::Claimed)
                && (r.rotation.as_deref() == Some(rotation_id)
                    || r.claim.is_some_and(|c| claims.contains(&c)))
        })
        .cloned()
        .collect()
}
