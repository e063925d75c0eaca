//! Prometheus metrics on `ROTAD_METRICS_LISTEN` (`/metrics`, OpenMetrics text).
//!
//! Counters and the rotation-duration histogram live in this process. The gauges (due
//! backlog, oldest overdue age, revocation queue, pending webhook deliveries) are read from
//! the store at scrape time, so every replica reports the shared state.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::services::AppState;
use crate::time::now_ms;

/// Upper bounds of the rotation-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    #[prometheus(flatten)]
    result: ResultLabels,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DbtLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    rotations: Family<ResultLabels, Counter>,
    by_type: Family<TypeLabels, Counter>,
    duration: Histogram,
    dbt_calls: Family<DbtLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    due: Gauge,
    oldest_overdue: Gauge<f64, AtomicU64>,
    revocations: Gauge,
    deliveries: Gauge,
    writer_trips: Counter,
}

pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            rotations: Family::default(),
            by_type: Family::default(),
            duration: Histogram::new(BUCKETS),
            dbt_calls: Family::default(),
            http: Family::default(),
            due: Gauge::default(),
            oldest_overdue: Gauge::default(),
            revocations: Gauge::default(),
            deliveries: Gauge::default(),
            writer_trips: Counter::default(),
        };
        for result in ["success", "failed"] {
            // Both series exist from the start, at 0.
            let _ = m.rotations.get_or_create(&ResultLabels {
                result: result.to_string(),
            });
        }
        let mut r = Registry::default();
        r.register(
            "rotad_rotations",
            "Rotation attempts by result",
            m.rotations.clone(),
        );
        r.register(
            "rotad_rotations_by_type",
            "Rotation attempts by rotation type and result",
            m.by_type.clone(),
        );
        r.register(
            "rotad_rotation_duration_seconds",
            "Time from lease to outcome of one rotation attempt",
            m.duration.clone(),
        );
        r.register(
            "rotad_dbt_calls",
            "dbt Cloud API calls by operation and outcome (ok, HTTP status, network, timeout)",
            m.dbt_calls.clone(),
        );
        r.register(
            "rotad_http_requests",
            "API requests by method, matched route and status",
            m.http.clone(),
        );
        r.register(
            "rotad_rotations_due",
            "Auto-rotations whose time has come and that have not run yet",
            m.due.clone(),
        );
        r.register(
            "rotad_rotation_oldest_overdue_seconds",
            "How long the most overdue rotation has been due (0 when none)",
            m.oldest_overdue.clone(),
        );
        r.register(
            "rotad_revocation_queue_length",
            "Credentials waiting to be revoked at the provider",
            m.revocations.clone(),
        );
        r.register(
            "rotad_webhook_deliveries_pending",
            "Webhook deliveries waiting in the outbox",
            m.deliveries.clone(),
        );
        r.register(
            "rotad_store_writer_trips",
            "Acquisitions of SQLite's single writer connection (a transaction or a lone write \
             statement each; not counted on PostgreSQL)",
            m.writer_trips.clone(),
        );
        m.registry = r;
        m
    }

    /// One finished rotation attempt of a rotation of type `kind`.
    pub fn rotation(&self, kind: &str, success: bool, took: Duration) {
        let result = ResultLabels {
            result: if success { "success" } else { "failed" }.to_string(),
        };
        self.rotations.get_or_create(&result).inc();
        self.by_type
            .get_or_create(&TypeLabels {
                result,
                r#type: kind.to_string(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// One acquisition of the SQLite writer connection (see `store::sql::connect`).
    pub fn writer_trip(&self) {
        self.writer_trips.inc();
    }

    /// Writer trips so far (the `rotad_store_writer_trips_total` counter).
    pub fn writer_trips(&self) -> u64 {
        self.writer_trips.get()
    }

    pub fn dbt_call(&self, operation: &'static str, status: &str) {
        self.dbt_calls
            .get_or_create(&DbtLabels {
                operation: operation.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
    }
}

/// The whole exposition: this process's counters and the shared gauges.
pub async fn render(app: &AppState) -> Result<String, StatusCode> {
    let m = global();
    let now = now_ms();
    match app.store.schedule_stats(now).await {
        Ok(stats) => {
            m.due.set(stats.due);
            m.oldest_overdue.set(
                stats
                    .oldest_due_at
                    .map(|at| (now - at).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0),
            );
            m.revocations.set(stats.revocations);
            m.deliveries.set(stats.deliveries);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the schedule gauges"),
    }
    let mut out = String::new();
    encode(&mut out, &m.registry).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(out)
}

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The method label of any method but the standard nine.
pub const OTHER_METHOD: &str = "other";

/// A method's label: the standard methods by name, anything else [`OTHER_METHOD`], so a
/// caller cannot add a series by inventing a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => OTHER_METHOD,
    }
}

/// Where [`tag_route`] leaves the matched route template for [`Tracked`].
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// One API request being counted: [`Tracked::begin`] before it is answered,
/// [`Tracked::record`] with the status it was answered with. Labels are fixed sets only: the
/// method ([`method_label`]), the route template it matched or [`UNMATCHED_ROUTE`], and the
/// status; neither an invented method nor an arbitrary URL can grow the label set.
pub struct Tracked {
    method: &'static str,
    slot: RouteSlot,
}

impl Tracked {
    pub fn begin(request: &mut Request) -> Tracked {
        let slot = RouteSlot::default();
        request.extensions_mut().insert(slot.clone());
        Tracked {
            method: method_label(request.method()),
            slot,
        }
    }

    pub fn record(self, status: StatusCode) {
        let route = self
            .slot
            .0
            .get()
            .map(MatchedPath::as_str)
            .unwrap_or(UNMATCHED_ROUTE);
        global().http_request(self.method, route, status.as_u16());
    }
}

/// Records the template of the route `request` matched for [`Tracked`]; called by the
/// route layer (`http::conventions::per_route`).
pub fn tag_route(request: &Request) {
    if let (Some(path), Some(slot)) = (
        request.extensions().get::<MatchedPath>(),
        request.extensions().get::<RouteSlot>(),
    ) {
        let _ = slot.0.set(path.clone());
    }
}

async fn metrics_handler(State(app): State<AppState>) -> Response {
    match render(&app).await {
        Ok(text) => (
            [(
                CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(status) => status.into_response(),
    }
}

/// Serves `/metrics` on its own listener until `shutdown`.
pub async fn serve(
    app: AppState,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("ROTAD_METRICS_LISTEN: cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(app);
    tokio::spawn(async move {
        let started = Instant::now();
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
        {
            tracing::warn!(error = %e, up = ?started.elapsed(), "metrics listener stopped");
        }
    });
    Ok(bound)
}
