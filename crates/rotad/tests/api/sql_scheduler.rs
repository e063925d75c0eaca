//! The scheduler runs all three rotation types side by side: a dbt token, a MariaDB login and
//! a PostgreSQL login fall due together and are each rotated once, every published credential
//! live afterwards. A delete with `revokeGeneratedCredentials` leaves neither user's login.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use crate::rotation_support::{Rig, ROTATIONS};
use crate::sql_support::{connection_body_at, logs_in_at, Kind, Users};

/// Creates a `kind` connection and rotation in the rig's project, publishing to
/// `<PREFIX>_USER` / `<PREFIX>_PASSWORD`; returns (rotation id, its users).
async fn database_rotation(rig: &Rig, kind: Kind, prefix: &str) -> (String, Users) {
    let users = Users::create_at(kind).await;
    let conn = rig
        .app
        .post(
            &format!("/api/v1/app-connections/{}", kind.app()),
            connection_body_at(
                kind,
                &format!("{}-main", kind.app()),
                &users.admin,
                &users.admin_password,
            ),
        )
        .await;
    assert_eq!(conn.status, 200, "{}", conn.body);
    let body = json!({
        "name": format!("{}-creds", kind.app()),
        "projectId": rig.project,
        "connectionId": conn.body["appConnection"]["id"],
        "environment": "dev",
        "secretPath": "/",
        "rotationInterval": 30,
        "parameters": {"username1": users.user1, "username2": users.user2},
        "secretsMapping": {"username": format!("{prefix}_USER"), "password": format!("{prefix}_PASSWORD")},
    });
    let res = rig.app.post(&kind.rotations(), body).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let id = res.body["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    (id, users)
}

async fn rotation(rig: &Rig, path: &str, id: &str) -> Value {
    let res = rig.app.get(&format!("{path}/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["secretRotation"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_rotates_all_three_types_side_by_side() {
    let rig = Rig::with(|a| a.scheduler_poll_interval = Duration::from_millis(200)).await;
    let dbt = rig.rotation("tokens", "DBT_TOKEN").await;
    let (mysql, mysql_users) = database_rotation(&rig, Kind::MariaDb, "MYSQL").await;
    let (pg, pg_users) = database_rotation(&rig, Kind::Postgres, "PG").await;
    let all = [
        (ROTATIONS.to_string(), dbt.clone()),
        (Kind::MariaDb.rotations(), mysql.clone()),
        (Kind::Postgres.rotations(), pg.clone()),
    ];
    let due = Utc::now().timestamp_millis() - 1_000;
    rig.app
        .db
        .execute(&format!(
            "UPDATE secret_rotations SET next_rotation_at = {due}"
        ))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    for (path, id) in &all {
        loop {
            let r = rotation(&rig, path, id).await;
            if r["isLastRotationManual"] == false && r["activeIndex"] == 1 {
                assert_eq!(r["rotationStatus"], "success", "{r}");
                break;
            }
            assert!(Instant::now() < deadline, "{path} never rotated: {r}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let token = rig.published("DBT_TOKEN").await;
    assert!(rig.is_live(&token), "the dbt token is live");
    for (kind, prefix, users) in [
        (Kind::MariaDb, "MYSQL", &mysql_users),
        (Kind::Postgres, "PG", &pg_users),
    ] {
        let user = rig.published(&format!("{prefix}_USER")).await;
        let password = rig.published(&format!("{prefix}_PASSWORD")).await;
        assert_eq!(user, users.user2, "{kind:?}: the second user is published");
        assert!(
            logs_in_at(kind, &user, &password).await,
            "{kind:?}: the scheduled login works"
        );
    }

    // Deleted with revokeGeneratedCredentials: neither user's login is left.
    for (kind, id, users) in [
        (Kind::MariaDb, &mysql, &mysql_users),
        (Kind::Postgres, &pg, &pg_users),
    ] {
        let slots = rig
            .app
            .get(&format!("{}/{id}/generated-credentials", kind.rotations()))
            .await;
        let res = rig
            .app
            .delete(
                &format!(
                    "{}/{id}?revokeGeneratedCredentials=true&deleteSecrets=true",
                    kind.rotations()
                ),
                json!({}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        for slot in slots.body["generatedCredentials"]
            .as_array()
            .expect("slots")
        {
            let (user, password) = (
                slot["username"].as_str().expect("username"),
                slot["password"].as_str().expect("password"),
            );
            assert!(
                !logs_in_at(kind, user, password).await,
                "{kind:?}: {user}'s login is revoked with the rotation"
            );
        }
        users.drop_all().await;
    }
}
