//! Prometheus metrics, written by hand in the text exposition format (version 0.0.4).
//!
//! A handful of counters and one histogram do not justify a dependency: the format is a few
//! lines per family and stable. Counters live in this process (like the default registry of
//! any Prometheus client); the gauges (due backlog, oldest overdue age, revocation queue,
//! pending webhook deliveries) are read from the store at scrape time, so every replica
//! reports the shared state.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::services::AppState;
use crate::time::now_ms;

/// Upper bounds of the rotation-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Counters {
    rotations: BTreeMap<&'static str, u64>,
    duration: Histogram,
    dbt_calls: BTreeMap<(&'static str, String), u64>,
    http: BTreeMap<(String, String, u16), u64>,
}

/// The process's counters.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Counters) -> R) -> R {
        let mut guard = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// One finished rotation attempt.
    pub fn rotation(&self, success: bool, took: Duration) {
        let seconds = took.as_secs_f64();
        self.with(|c| {
            *c.rotations
                .entry(if success { "success" } else { "failed" })
                .or_default() += 1;
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    c.duration.counts[i] += 1;
                }
            }
            c.duration.sum += seconds;
            c.duration.count += 1;
        });
    }

    pub fn dbt_call(&self, operation: &'static str, status: &str) {
        self.with(|c| {
            *c.dbt_calls
                .entry((operation, status.to_string()))
                .or_default() += 1
        });
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.with(|c| {
            *c.http
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1
        });
    }

    fn render_counters(&self, out: &mut String) {
        self.with(|c| {
            family(out, "rotad_rotations_total", "counter", "Rotation attempts by result.");
            for result in ["success", "failed"] {
                let n = c.rotations.get(result).copied().unwrap_or(0);
                let _ = writeln!(out, "rotad_rotations_total{{result=\"{result}\"}} {n}");
            }
            family(
                out,
                "rotad_rotation_duration_seconds",
                "histogram",
                "Time from lease to outcome of one rotation attempt.",
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "rotad_rotation_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                    c.duration.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "rotad_rotation_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 rotad_rotation_duration_seconds_sum {}\n\
                 rotad_rotation_duration_seconds_count {}",
                c.duration.count, c.duration.sum, c.duration.count
            );
            family(
                out,
                "rotad_dbt_calls_total",
                "counter",
                "dbt Cloud API calls by operation and outcome (ok, HTTP status, network, timeout).",
            );
            for ((operation, status), n) in &c.dbt_calls {
                let _ = writeln!(
                    out,
                    "rotad_dbt_calls_total{{operation=\"{operation}\",status=\"{}\"}} {n}",
                    escape(status)
                );
            }
            family(
                out,
                "rotad_http_requests_total",
                "counter",
                "API requests by method, matched route and status.",
            );
            for ((method, route, status), n) in &c.http {
                let _ = writeln!(
                    out,
                    "rotad_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
        });
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition: this process's counters and the shared gauges.
pub async fn render(app: &AppState) -> String {
    let mut out = String::new();
    global().render_counters(&mut out);
    let now = now_ms();
    match app.store.schedule_stats(now).await {
        Ok(stats) => {
            let oldest = stats
                .oldest_due_at
                .map(|at| (now - at).max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            for (name, help, value) in [
                (
                    "rotad_rotations_due",
                    "Auto-rotations whose time has come and that have not run yet.",
                    stats.due as f64,
                ),
                (
                    "rotad_rotation_oldest_overdue_seconds",
                    "How long the most overdue rotation has been due (0 when none).",
                    oldest,
                ),
                (
                    "rotad_revocation_queue_length",
                    "Credentials waiting to be revoked at the provider.",
                    stats.revocations as f64,
                ),
                (
                    "rotad_webhook_deliveries_pending",
                    "Webhook deliveries waiting in the outbox.",
                    stats.deliveries as f64,
                ),
            ] {
                family(&mut out, name, "gauge", help);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the schedule gauges"),
    }
    out
}

/// Counts each API request under its matched route (a route layer: unmatched paths carry no
/// route and are not counted, so arbitrary URLs cannot grow the label set).
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    if let Some(route) = route {
        global().http_request(&method, &route, response.status().as_u16());
    }
    response
}

async fn metrics_handler(State(app): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(&app).await,
    )
        .into_response()
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
