//! What the hot API routes cost the database (docs/ARCHITECTURE.md, "Caches"): the statements
//! one request makes, counted inside its own `request` span (`statements`), cold (just after a
//! restart, every cache empty; earlier routes of the list may have filled what they share, such
//! as the token's context) and warm (the same request again). Read events are written by the
//! background audit writer, outside any request, and are not counted here.

use reqwest::Method;
use serde_json::{json, Value};

use crate::rotation_support::Rig;
use crate::statements;

/// A route and its budgets: statements when every cache is empty, and when they are filled.
struct Route {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    cold: usize,
    warm: usize,
}

/// The statements of one request (transaction control not counted).
async fn statements_of(rig: &Rig, route: &Route) -> Vec<String> {
    let mark = statements::mark();
    let answer = rig
        .app
        .call(
            route.method.clone(),
            &route.path,
            Some(&rig.app.token),
            route.body.clone(),
        )
        .await;
    assert!(
        answer.status.is_success(),
        "{}: {}",
        route.name,
        answer.body
    );
    statements::of_requests_since(mark)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_routes_stay_within_their_statement_budgets() {
    statements::install();
    let mut rig = Rig::new().await;
    let id = rig.rotation("budgeted", "BUDGETED").await;
    let project = rig.project.clone();
    assert_eq!(
        rig.app
            .create_secret(&project, "/", "PLAIN", "value")
            .await
            .status,
        200
    );
    let secret = |key: &str| {
        format!("/api/v3/secrets/raw/{key}?workspaceId={project}&environment=dev&secretPath=/")
    };
    let rotation = format!("/api/v2/secret-rotations/dbt-service-token/{id}");
    let pg_notify = usize::from(matches!(
        rig.app.db,
        crate::helpers::TestDb::Postgres { .. }
    ));
    let routes = [
        // Cold: the token with its identity, the project with the membership, the rotation
        // with its environment, folder and connection: one statement each. Warm: none.
        Route {
            name: "GET rotation",
            method: Method::GET,
            path: rotation.clone(),
            body: None,
            cold: 3,
            warm: 0,
        },
        // Cold (token and project access known from the route above): the environments, the
        // folder, the data key and the secret. Warm: none (the value is decrypted from the
        // cached sealed row).
        Route {
            name: "GET secret",
            method: Method::GET,
            path: secret("PLAIN"),
            body: None,
            cold: 4,
            warm: 0,
        },
        // What the SDKs send: expansion asked for, no reference in the value: nothing more.
        Route {
            name: "GET secret (SDK flags)",
            method: Method::GET,
            path: format!("{}&expandSecretReferences=true", secret("PLAIN")),
            body: None,
            cold: 0,
            warm: 0,
        },
        Route {
            name: "GET rotated secret",
            method: Method::GET,
            path: secret("BUDGETED"),
            body: None,
            cold: 1,
            warm: 0,
        },
        // The list is one statement however long; the folder's secrets likewise.
        Route {
            name: "GET rotation list",
            method: Method::GET,
            path: format!("/api/v2/secret-rotations?projectId={project}"),
            body: None,
            cold: 1,
            warm: 1,
        },
        Route {
            name: "GET secret list",
            method: Method::GET,
            path: format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev"),
            body: None,
            cold: 1,
            warm: 1,
        },
        // What the Python and Rust SDKs send: the folder's imports (none here) are one more
        // statement cold, none warm.
        Route {
            name: "GET secret list (SDK flags)",
            method: Method::GET,
            path: format!(
                "/api/v3/secrets/raw?workspaceId={project}&environment=dev&include_imports=true&expandSecretReferences=true&recursive=false"
            ),
            body: None,
            cold: 2,
            warm: 1,
        },
        // The rotation as the cache or the previous PATCH left it (one read when a write
        // invalidated it), then one transaction: the fenced UPDATE and its audit entry
        // (and, on PostgreSQL, the NOTIFY of the change).
        Route {
            name: "PATCH rotation",
            method: Method::PATCH,
            path: rotation.clone(),
            body: Some(json!({"description": "budgeted"})),
            cold: 3 + pg_notify,
            warm: 3 + pg_notify,
        },
    ];
    // Every cache empty: a fresh process on the same database.
    rig.app.restart().await;
    let mut report = String::new();
    let mut over = Vec::new();
    for route in &routes {
        let cold = statements_of(&rig, route).await;
        let warm = statements_of(&rig, route).await;
        report.push_str(&format!(
            "\n{}: cold {} (budget {}), warm {} (budget {})\n  cold: {cold:?}\n  warm: {warm:?}",
            route.name,
            cold.len(),
            route.cold,
            warm.len(),
            route.warm
        ));
        if cold.len() > route.cold || warm.len() > route.warm {
            over.push(route.name);
        }
    }
    eprintln!("{report}");
    assert!(over.is_empty(), "over budget: {over:?}{report}");
}

/// The server's own writes (here the read-audit flush, which touches nothing a cache holds)
/// leave the caches warm: on SQLite the file watcher must not take this process's commits for
/// another process's and forget everything (docs/ARCHITECTURE.md, "Caches").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_writes_that_change_nothing_cached_keep_the_caches_warm() {
    statements::install();
    let mut rig = Rig::new().await;
    let project = rig.project.clone();
    assert_eq!(
        rig.app
            .create_secret(&project, "/", "POLLED", "value")
            .await
            .status,
        200
    );
    // A fresh process: on PostgreSQL the creation's own notification, which arrives after
    // its commit, cannot empty the caches between the two reads below.
    rig.app.restart().await;
    let read = Route {
        name: "GET secret",
        method: Method::GET,
        path: format!(
            "/api/v3/secrets/raw/POLLED?workspaceId={project}&environment=dev&secretPath=/"
        ),
        body: None,
        cold: 4,
        warm: 0,
    };
    statements_of(&rig, &read).await;
    assert_eq!(statements_of(&rig, &read).await, Vec::<String>::new());
    let server = rig.server();
    let changes = server.store.changes();
    for round in 0..3 {
        // A commit of this process: the reads' audit entries.
        server.flush_read_audit().await;
        // The watcher has looked at the file twice since.
        let seen = changes.file_checks();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while changes.file_checks() < seen + 2 && !rig.app.db.is_postgres() {
            assert!(
                std::time::Instant::now() < deadline,
                "the file watcher stopped"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let after = statements_of(&rig, &read).await;
        assert!(
            after.is_empty(),
            "round {round}: a read after the server's own audit flush went to the database: {after:?}"
        );
    }
}
