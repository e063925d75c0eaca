//! Following the other replicas' writes on PostgreSQL: `LISTEN` on the changes channel, and
//! bump what each notification names (docs/ARCHITECTURE.md, "Caches").

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgPool, SqlitePool};
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
                changes.set_following();
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

/// How often a SQLite file is checked for other processes' writes.
const FILE_POLL: Duration = Duration::from_millis(200);

/// SQLite: another process writing the same file (a second `rotad serve` on it, or an operator's
/// `sqlite3`) is seen through `PRAGMA data_version`, which changes whenever *another* connection
/// commits. It is read on `writer`, the one connection every write of this process goes
/// through, so this process's own commits (already bumped precisely, scope by scope) never
/// count: only another process's do, and then everything is forgotten, at most five times a
/// second.
pub(super) async fn follow_file(
    writer: &SqlitePool,
    changes: &Changes,
    shutdown: CancellationToken,
) {
    // The first reading is taken before the server answers (it waits for `set_following`), so
    // a change made between a first cached read and the first check is not taken as the start.
    let mut last = data_version(writer).await.ok();
    changes.set_following();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FILE_POLL) => {}
        }
        match data_version(writer).await {
            Ok(version) => {
                // A reopened writer connection counts from elsewhere: that is a change too.
                if last != Some(version) {
                    changes.forget_all();
                }
                last = Some(version);
                changes.file_checked();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the database file's change counter");
                changes.forget_all();
                last = None;
            }
        }
    }
}

/// The writer connection's view of the file's change counter.
async fn data_version(writer: &SqlitePool) -> sqlx::Result<i64> {
    sqlx::query_scalar::<_, i64>("PRAGMA data_version")
        .persistent(false)
        .fetch_one(writer)
        .await
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
