//! `GET /api/status` while the database cannot be reached: 503 in upstream's envelope, and
//! 200 again once it can.

use reqwest::Method;

use crate::helpers::{assert_envelope, Answer, TestApp, TestDb};

async fn status(app: &TestApp) -> Answer {
    app.call(Method::GET, "/api/status", None, None).await
}

fn assert_unavailable(answer: &Answer) {
    let message = assert_envelope(answer, 503);
    assert_eq!(
        answer.body["error"], "ServiceUnavailable",
        "{}",
        answer.body
    );
    assert!(
        message.as_str().is_some_and(|m| m.contains("database")),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn status_is_503_once_the_store_refuses_every_statement() {
    let app = TestApp::spawn().await;
    let up = status(&app).await;
    assert_eq!(up.status, 200, "{}", up.body);

    app.server.as_ref().expect("running").app.store.close();
    assert_unavailable(&status(&app).await);
}

/// PostgreSQL only: the server's connections are terminated and the database refuses new
/// ones; once it accepts them again the status is 200 without a restart.
#[tokio::test]
async fn status_is_503_while_postgres_refuses_connections_then_200() {
    let app = TestApp::spawn().await;
    let TestDb::Postgres { admin_url, name } = &app.db else {
        return;
    };
    assert_eq!(status(&app).await.status, 200);

    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect");
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .expect("refuse connections");
    // The two-argument form waits (up to 10 s) until each backend has exited.
    let terminated: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .fetch_all(&admin)
    .await
    .expect("terminate");
    assert!(terminated.iter().all(|(t,)| *t), "{terminated:?}");

    assert_unavailable(&status(&app).await);

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .expect("accept connections");
    admin.close().await;
    let back = status(&app).await;
    assert_eq!(back.status, 200, "{}", back.body);
}
