//! Following the other replicas' writes on PostgreSQL: `LISTEN` on the changes channel, and
//! bump what each notification names (docs/ARCHITECTURE.md, "Caches").

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::store::changes::{Changes, CHANNEL};

/// Listens until `shutdown`. Whenever the listener is not known to have heard everything (at
/// start, after a lost connection), every cache entry is forgotten: a notification sent while
/// nobody listened is lost, so only a fresh start is safe.
pub(super) async fn follow(pool: &PgPool, changes: &Changes, shutdown: CancellationToken) {
    loop {
        match listen(pool).await {
            Ok(mut listener) => {
                changes.forget_all();
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        received = listener.try_recv() => match received {
                            Ok(Some(notification)) => changes.apply_payload(notification.payload()),
                            // The connection dropped; the next receive reconnects and listens
                            // again, and what was sent in between is unknown.
                            Ok(None) => changes.forget_all(),
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the changes listener; reconnecting");
                                changes.forget_all();
                                break;
                            }
                        },
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for changes; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
