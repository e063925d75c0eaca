//! Runs one API operation through the emulator's pipeline: count the call, add the global
//! latency, then apply an armed fault before or after performing the operation.

use axum::response::Response;

use crate::conn::ConnHandle;
use crate::envelope;
use crate::fault::{FaultKind, FaultTiming, Operation};
use crate::state::SharedState;

pub(crate) async fn run_op(
    state: &SharedState,
    conn: &ConnHandle,
    op: Operation,
    perform: impl FnOnce() -> Response,
) -> Response {
    state.record_call(op);
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Some(fault) = state.take_fault(op) else {
        return perform();
    };
    tracing::debug!(?op, ?fault, "injecting fault");
    match (fault.timing, fault.kind) {
        (FaultTiming::Before, FaultKind::Delay { duration }) => {
            tokio::time::sleep(duration).await;
            perform()
        }
        (FaultTiming::After, FaultKind::Delay { duration }) => {
            let response = perform();
            tokio::time::sleep(duration).await;
            response
        }
        (FaultTiming::Before, kind) => fault_response(kind, conn),
        (FaultTiming::After, kind) => {
            // The operation happens; its answer is lost.
            drop(perform());
            fault_response(kind, conn)
        }
    }
}

fn fault_response(kind: FaultKind, conn: &ConnHandle) -> Response {
    match kind {
        FaultKind::Status { code } => envelope::status_fault(code),
        FaultKind::Html { code } => envelope::html_fault(code),
        FaultKind::RateLimited { retry_after_secs } => envelope::rate_limited(retry_after_secs),
        FaultKind::Drop => {
            conn.kill();
            // Never written: the connection refuses every byte from now on.
            envelope::status_fault(500)
        }
        // Delays postpone the normal answer and are handled by `run_op`.
        FaultKind::Delay { .. } => envelope::status_fault(500),
    }
}
