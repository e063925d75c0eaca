//! A rotation that fails after its `ALTER` took effect: the database set the new password,
//! then refused the login that verifies it (PostgreSQL: a connection limit of 0; MariaDB: a
//! locked account; both refuse any password, so the refusal is the database's, not a wrong
//! password). The rule (docs/ARCHITECTURE.md, "Providers"): never show or publish a login
//! that does not work. Once the database takes logins again, recovery finds the new
//! password (sealed onto the intent before the `ALTER`) working and publishes it; no slot
//! keeps showing the password the `ALTER` replaced.

use std::time::{Duration, Instant};

use crate::helpers::assert_envelope;
use crate::sql_support::{admin, logs_in_at, Kind, SqlRig};

#[tokio::test]
async fn mariadb_a_failure_after_the_alter_shows_no_dead_login() {
    failure_after_the_alter_shows_no_dead_login(Kind::MariaDb).await
}

#[tokio::test]
async fn postgres_a_failure_after_the_alter_shows_no_dead_login() {
    failure_after_the_alter_shows_no_dead_login(Kind::Postgres).await
}

/// The statement that makes the database refuse every login of `user` (`on`), or take them
/// again.
fn refuse_logins(kind: Kind, user: &str, on: bool) -> String {
    match (kind, on) {
        (Kind::MariaDb, true) => format!("ALTER USER '{user}'@'%' ACCOUNT LOCK"),
        (Kind::MariaDb, false) => format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK"),
        (Kind::Postgres, true) => format!("ALTER ROLE {user} CONNECTION LIMIT 0"),
        (Kind::Postgres, false) => format!("ALTER ROLE {user} CONNECTION LIMIT -1"),
    }
}

async fn failure_after_the_alter_shows_no_dead_login(kind: Kind) {
    let rig = SqlRig::new_at(kind).await;
    let id = rig.rotation().await;
    let res = rig.rotate(&id).await;
    assert_eq!(res.status, 200, "{}", res.body);
    // Slot 0 (user1) is the inactive one now, with a login that works.
    let (slots, active) = rig.slots(&id).await;
    assert_eq!(active, 1);
    assert!(logs_in_at(kind, &slots[0].0, &slots[0].1).await);
    let user1 = rig.users.user1.clone();

    admin(kind, &refuse_logins(kind, &user1, true)).await;
    let res = rig.rotate(&id).await;
    let message = assert_envelope(&res, 500);
    assert!(
        message
            .as_str()
            .unwrap_or_default()
            .contains("Infisical encountered an issue"),
        "{message}"
    );
    admin(kind, &refuse_logins(kind, &user1, false)).await;

    // Recovery runs every two seconds; within the deadline every shown login works.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (slots, active) = rig.slots(&id).await;
        let mut working = true;
        for (user, password) in &slots {
            working &= logs_in_at(kind, user, password).await;
        }
        let published = rig.published().await;
        working &= logs_in_at(kind, &published.0, &published.1).await;
        if working {
            assert_eq!(
                published, slots[active as usize],
                "the published login is the active slot's"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a shown login does not work after the failed rotation: slot users {:?}",
            slots.iter().map(|s| &s.0).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And the rotation goes on from there.
    let res = rig.rotate(&id).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let published = rig.published().await;
    assert!(logs_in_at(kind, &published.0, &published.1).await);
    rig.users.drop_all().await;
}
