//! `mysql-credentials` against the MariaDB on 127.0.0.1:3306 and `postgres-credentials`
//! against a PostgreSQL cluster that checks passwords (`scram_pg`): the published login works
//! after every rotation, the other slot's too, the one from two rotations ago is refused; a
//! connection that may not alter the users creates nothing; a dropped user fails a rotation
//! without touching what is published. Passwords never reach the database in plaintext.

use serde_json::json;

use crate::helpers::assert_envelope;
use crate::sql_support::{connection_body_at, logs_in_at, Kind, SqlRig, Users};

macro_rules! on_both_servers {
    ($($name:ident),*) => {
        mod mariadb {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::MariaDb).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Postgres).await
            })*
        }
    };
}

on_both_servers!(
    three_rotations_keep_both_slots_working_and_refuse_older_logins,
    a_connection_that_may_not_alter_the_users_creates_nothing,
    a_dropped_user_fails_the_rotation_and_keeps_the_published_login
);

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn three_rotations_keep_both_slots_working_and_refuse_older_logins(kind: Kind) {
    let rig = SqlRig::new_at(kind).await;
    let rotations = kind.rotations();
    let id = rig.rotation().await;
    let (user, password) = rig.published().await;
    assert_eq!(user, rig.users.user1);
    assert!(
        logs_in_at(kind, &user, &password).await,
        "the first published login works"
    );
    let mut history = vec![(user, password)];
    for round in 1..=3 {
        let res = rig.rotate(&id).await;
        assert_eq!(res.status, 200, "rotation {round}: {}", res.body);
        assert_eq!(res.body["secretRotation"]["rotationStatus"], "success");
        let published = rig.published().await;
        assert!(
            logs_in_at(kind, &published.0, &published.1).await,
            "rotation {round}: the published login works"
        );
        let (slots, active) = rig.slots(&id).await;
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[active as usize], published);
        let other = &slots[1 - active as usize];
        assert!(
            logs_in_at(kind, &other.0, &other.1).await,
            "rotation {round}: the other slot's login works"
        );
        assert_eq!(other, history.last().expect("previous"));
        if history.len() >= 2 {
            let old = &history[history.len() - 2];
            assert!(
                !logs_in_at(kind, &old.0, &old.1).await,
                "rotation {round}: the login from two rotations ago is refused"
            );
        }
        history.push(published);
    }
    assert_eq!(history[1].0, rig.users.user2, "the users alternate");
    assert_eq!(history[2].0, rig.users.user1);

    let check = rig
        .app
        .post(&format!("{rotations}/{id}/check-credentials"), json!({}))
        .await;
    assert_eq!(check.status, 204, "{}", check.body);
    let conn_check = rig
        .app
        .post(
            &format!(
                "/api/v1/app-connections/{}/{}/check",
                kind.app(),
                rig.connection
            ),
            json!({}),
        )
        .await;
    assert_eq!(conn_check.status, 204, "{}", conn_check.body);
    let options = rig.app.get("/api/v2/secret-rotations/options").await;
    let types: Vec<&str> = options.body["secretRotationOptions"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["type"].as_str())
        .collect();
    for kind in [
        "dbt-service-token",
        "mysql-credentials",
        "postgres-credentials",
    ] {
        assert!(types.contains(&kind), "{types:?}");
    }
    let all = rig
        .app
        .get(&format!(
            "/api/v2/secret-rotations?projectId={}",
            rig.project
        ))
        .await;
    assert_eq!(
        all.body["secretRotations"][0]["type"],
        format!("{}-credentials", kind.app())
    );

    let dump = rig.app.db.dump().await;
    for (_, password) in &history {
        assert!(
            !contains(&dump, password),
            "a password is stored in plaintext"
        );
    }
    assert!(!contains(&dump, &rig.users.admin_password));
    let connection = rig
        .app
        .get(&format!(
            "/api/v1/app-connections/{}/{}",
            kind.app(),
            rig.connection
        ))
        .await;
    assert_eq!(connection.status, 200, "{}", connection.body);
    assert!(!connection
        .body
        .to_string()
        .contains(&rig.users.admin_password));
    assert_eq!(
        connection.body["appConnection"]["credentials"]["username"],
        rig.users.admin
    );
    let every = rig.app.get("/api/v1/app-connections").await;
    assert_eq!(every.status, 200, "{}", every.body);
    assert!(!every.body.to_string().contains(&rig.users.admin_password));
    assert!(every.body["appConnections"]
        .as_array()
        .expect("connections")
        .iter()
        .any(|c| c["app"] == kind.app() && c["credentials"]["port"] == kind.port()));
    let dbt = rig.app.get("/api/v1/app-connections/dbt").await;
    assert_eq!(
        dbt.body["appConnections"],
        json!([]),
        "only dbt's on the dbt route"
    );
    rig.users.drop_all().await;
}

async fn a_connection_that_may_not_alter_the_users_creates_nothing(kind: Kind) {
    let rig = SqlRig::new_at(kind).await;
    let rotations = kind.rotations();
    let (low, low_password) = Users::unprivileged(kind).await;
    let conn = rig
        .app
        .post(
            &format!("/api/v1/app-connections/{}", kind.app()),
            connection_body_at(kind, "db-low", &low, &low_password),
        )
        .await;
    assert_eq!(conn.status, 200, "{}", conn.body);
    let low_id = conn.body["appConnection"]["id"].as_str().expect("id");
    let res = rig.app.post(&rotations, rig.body("db-creds", low_id)).await;
    let message = assert_envelope(&res, 400);
    let message = message.as_str().expect("message");
    assert!(
        message.contains(kind.no_privilege()),
        "the database's reason: {message}"
    );
    assert!(!message.contains(&low_password));

    let missing = Users::create_at(kind).await;
    missing.drop_user(&missing.user2).await;
    let mut body = rig.body("db-missing", &rig.connection);
    body["parameters"]["username2"] = json!(missing.user2);
    let res = rig.app.post(&rotations, body).await;
    assert_envelope(&res, 400);

    let all = rig
        .app
        .get(&format!(
            "/api/v2/secret-rotations?projectId={}",
            rig.project
        ))
        .await;
    assert_eq!(all.body["secretRotations"], json!([]), "no rotation left");
    for key in ["DB_USER", "DB_PASSWORD"] {
        let secret = rig
            .app
            .get(&format!(
                "/api/v3/secrets/raw/{key}?workspaceId={}&environment=dev",
                rig.project
            ))
            .await;
        assert_eq!(secret.status, 404, "no secret left: {}", secret.body);
    }
    // The connection is free: nothing (no intent, no queued revocation) stands on it.
    let deleted = rig
        .app
        .delete(
            &format!("/api/v1/app-connections/{}/{low_id}", kind.app()),
            json!({}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    rig.users.drop_user(&low).await;
    missing.drop_all().await;
    rig.users.drop_all().await;
}

async fn a_dropped_user_fails_the_rotation_and_keeps_the_published_login(kind: Kind) {
    let rig = SqlRig::new_at(kind).await;
    let id = rig.rotation().await;
    let res = rig.rotate(&id).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let published = rig.published().await;
    assert_eq!(published.0, rig.users.user2);
    rig.users.drop_user(&rig.users.user1).await;

    let res = rig.rotate(&id).await;
    let message = assert_envelope(&res, 500);
    let message = message.as_str().expect("message");
    assert!(
        message.starts_with(
            "Infisical encountered an issue while generating credentials with the configured inputs: "
        ),
        "{message}"
    );
    let row = rig.app.get(&format!("{}/{id}", kind.rotations())).await;
    assert_eq!(row.body["secretRotation"]["rotationStatus"], "failed");
    assert_eq!(
        rig.published().await,
        published,
        "published credentials unchanged"
    );
    assert!(
        logs_in_at(kind, &published.0, &published.1).await,
        "and still working"
    );
    rig.users.drop_all().await;
}
