//! Following the other replicas' writes on PostgreSQL: `LISTEN` on the changes channel, and
//! bump what each notification names (docs/ARCHITECTURE.md, "Caches").

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Connection, PgPool, SqliteConnection, SqlitePool};
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
/// `sqlite3`) is seen through `PRAGMA data_version` on a connection of its own, which changes
/// whenever another connection commits. That includes this process's writer, whose writes were
/// already bumped precisely; a change cannot be told apart, so everything is forgotten, at most
/// five times a second.
pub(super) async fn follow_file(pool: &SqlitePool, changes: &Changes, shutdown: CancellationToken) {
    let mut last = None;
    let mut connection = None;
    changes.set_following();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(FILE_POLL) => {}
        }
        if connection.is_none() {
            connection = SqliteConnection::connect_with(&pool.connect_options())
                .await
                .map_err(|e| tracing::warn!(error = %e, "cannot watch the database file; retrying"))
                .ok();
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(version) => {
                if last.is_some_and(|l| l != version) {
                    changes.forget_all();
                }
                last = Some(version);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the database file's change counter");
                changes.forget_all();
                connection = None;
                last = None;
            }
        }
    }
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
