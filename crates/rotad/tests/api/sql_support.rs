//! The databases of the credentials rotations: MariaDB on 127.0.0.1:3306 and the scram
//! PostgreSQL cluster (`scram_pg`); users of a test's own, logins through a real client
//! connection, and a rig (server, project, connection).

use serde_json::{json, Value};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::helpers::{Answer, TestApp};

const HOST: &str = "127.0.0.1";

/// Which database server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    MariaDb,
    Postgres,
}

impl Kind {
    pub fn app(self) -> &'static str {
        match self {
            Kind::MariaDb => "mysql",
            Kind::Postgres => "postgres",
        }
    }

    pub fn rotations(self) -> String {
        format!("/api/v2/secret-rotations/{}-credentials", self.app())
    }

    pub fn port(self) -> u16 {
        match self {
            Kind::MariaDb => 3306,
            Kind::Postgres => crate::scram_pg::cluster(),
        }
    }

    pub fn database(self) -> &'static str {
        match self {
            Kind::MariaDb => "",
            Kind::Postgres => "postgres",
        }
    }

    /// How the server words a missing privilege to alter a user.
    pub fn no_privilege(self) -> &'static str {
        match self {
            Kind::MariaDb => "CREATE USER",
            Kind::Postgres => "permission denied",
        }
    }
}

/// A fresh suffix for names of one test.
fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// Runs `sql` as the server's superuser.
pub async fn admin(kind: Kind, sql: &str) {
    match kind {
        Kind::MariaDb => {
            let mut conn = MySqlConnectOptions::new()
                .host(HOST)
                .port(kind.port())
                .username("root")
                .connect()
                .await
                .expect("MariaDB root login on 127.0.0.1:3306");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
            let _ = conn.close().await;
        }
        Kind::Postgres => {
            let mut conn = PgConnectOptions::new()
                .host(HOST)
                .port(kind.port())
                .username("postgres")
                .password(crate::scram_pg::ADMIN_PASSWORD)
                .database("postgres")
                .connect()
                .await
                .expect("superuser login on the scram cluster");
            sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
            let _ = conn.close().await;
        }
    }
}

/// Whether `user` logs in with `password` at the server of `kind` (a real client
/// connection and a query).
pub async fn logs_in_at(kind: Kind, user: &str, password: &str) -> bool {
    match kind {
        Kind::MariaDb => {
            let conn = MySqlConnectOptions::new()
                .host(HOST)
                .port(kind.port())
                .username(user)
                .password(password)
                .connect()
                .await;
            match conn {
                Ok(mut c) => {
                    let ok = sqlx::raw_sql("SELECT 1").execute(&mut c).await.is_ok();
                    let _ = c.close().await;
                    ok
                }
                Err(_) => false,
            }
        }
        Kind::Postgres => {
            let conn = PgConnectOptions::new()
                .host(HOST)
                .port(kind.port())
                .username(user)
                .password(password)
                .database("postgres")
                .connect()
                .await;
            match conn {
                Ok(mut c) => {
                    let ok = sqlx::raw_sql("SELECT 1").execute(&mut c).await.is_ok();
                    let _ = c.close().await;
                    ok
                }
                Err(_) => false,
            }
        }
    }
}

/// The users of one test: an admin that may alter users, and the two rotated users.
pub struct Users {
    pub kind: Kind,
    pub admin: String,
    pub admin_password: String,
    pub user1: String,
    pub user2: String,
}

impl Users {
    /// Creates them at the server of `kind` (the rotated ones with passwords nobody keeps).
    pub async fn create_at(kind: Kind) -> Users {
        let s = suffix();
        let users = Users {
            kind,
            admin: format!("adm_{s}"),
            admin_password: format!("Adm1n-{s}"),
            user1: format!("u1_{s}"),
            user2: format!("u2_{s}"),
        };
        let sql = match kind {
            Kind::MariaDb => format!(
                "CREATE USER '{a}'@'%' IDENTIFIED BY '{p}'; GRANT CREATE USER ON *.* TO '{a}'@'%'; \
                 CREATE USER '{u1}'@'%' IDENTIFIED BY 'X-{s}-1'; \
                 CREATE USER '{u2}'@'%' IDENTIFIED BY 'X-{s}-2'",
                a = users.admin,
                p = users.admin_password,
                u1 = users.user1,
                u2 = users.user2,
            ),
            Kind::Postgres => format!(
                "CREATE ROLE {a} LOGIN CREATEROLE PASSWORD '{p}'; \
                 CREATE ROLE {u1} LOGIN PASSWORD 'X-{s}-1'; \
                 CREATE ROLE {u2} LOGIN PASSWORD 'X-{s}-2'; \
                 GRANT {u1}, {u2} TO {a} WITH ADMIN OPTION",
                a = users.admin,
                p = users.admin_password,
                u1 = users.user1,
                u2 = users.user2,
            ),
        };
        admin(kind, &sql).await;
        users
    }

    /// Drops one of the rotated users.
    pub async fn drop_user(&self, user: &str) {
        let sql = match self.kind {
            Kind::MariaDb => format!("DROP USER '{user}'@'%'"),
            Kind::Postgres => format!("DROP ROLE {user}"),
        };
        admin(self.kind, &sql).await;
    }

    /// A user that logs in but may alter nobody; returns (name, password).
    pub async fn unprivileged(kind: Kind) -> (String, String) {
        let s = suffix();
        let (name, password) = (format!("low_{s}"), format!("Low-{s}"));
        let sql = match kind {
            Kind::MariaDb => format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
            Kind::Postgres => format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
        };
        admin(kind, &sql).await;
        (name, password)
    }

    pub async fn drop_all(&self) {
        let sql = match self.kind {
            Kind::MariaDb => format!(
                "DROP USER IF EXISTS '{}'@'%', '{}'@'%', '{}'@'%'",
                self.admin, self.user1, self.user2
            ),
            Kind::Postgres => format!(
                "DROP ROLE IF EXISTS {}, {}, {}",
                self.user1, self.user2, self.admin
            ),
        };
        admin(self.kind, &sql).await;
    }
}

pub struct SqlRig {
    pub kind: Kind,
    pub app: TestApp,
    pub project: String,
    pub connection: String,
    pub users: Users,
}

impl SqlRig {
    pub async fn new_at(kind: Kind) -> SqlRig {
        Self::on_at(kind, TestApp::spawn().await).await
    }

    /// A rig on a bootstrapped `app`: users at the server of `kind`, a project and a
    /// connection to it.
    pub async fn on_at(kind: Kind, app: TestApp) -> SqlRig {
        let users = Users::create_at(kind).await;
        let project = app.project("databases").await;
        let conn = app
            .post(
                &format!("/api/v1/app-connections/{}", kind.app()),
                connection_body_at(kind, "db-main", &users.admin, &users.admin_password),
            )
            .await;
        assert_eq!(conn.status, 200, "{}", conn.body);
        let connection = conn.body["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        SqlRig {
            kind,
            app,
            project,
            connection,
            users,
        }
    }

    pub fn body(&self, name: &str, connection: &str) -> Value {
        json!({
            "name": name,
            "projectId": self.project,
            "connectionId": connection,
            "environment": "dev",
            "secretPath": "/",
            "isAutoRotationEnabled": false,
            "rotationInterval": 30,
            "parameters": {"username1": self.users.user1, "username2": self.users.user2},
            "secretsMapping": {"username": "DB_USER", "password": "DB_PASSWORD"},
        })
    }

    /// Creates the rotation; returns its id.
    pub async fn rotation(&self) -> String {
        let res = self
            .app
            .post(
                &self.kind.rotations(),
                self.body("db-creds", &self.connection),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["secretRotation"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    pub async fn rotate(&self, id: &str) -> Answer {
        self.app
            .post(
                &format!("{}/{id}/rotate-secrets", self.kind.rotations()),
                json!({}),
            )
            .await
    }

    /// The published (username, password), as consumers read them.
    pub async fn published(&self) -> (String, String) {
        let mut out = Vec::new();
        for key in ["DB_USER", "DB_PASSWORD"] {
            let res = self
                .app
                .get(&format!(
                    "/api/v3/secrets/raw/{key}?workspaceId={}&environment=dev",
                    self.project
                ))
                .await;
            assert_eq!(res.status, 200, "{}", res.body);
            out.push(
                res.body["secret"]["secretValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        (out[0].clone(), out[1].clone())
    }

    /// (slots as (username, password), activeIndex).
    pub async fn slots(&self, id: &str) -> (Vec<(String, String)>, i64) {
        let res = self
            .app
            .get(&format!(
                "{}/{id}/generated-credentials",
                self.kind.rotations()
            ))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        let slots = res.body["generatedCredentials"]
            .as_array()
            .expect("slots")
            .iter()
            .map(|c| {
                (
                    c["username"].as_str().expect("username").to_string(),
                    c["password"].as_str().expect("password").to_string(),
                )
            })
            .collect();
        (
            slots,
            res.body["activeIndex"].as_i64().expect("activeIndex"),
        )
    }
}

pub fn connection_body_at(kind: Kind, name: &str, user: &str, password: &str) -> Value {
    json!({"name": name, "method": "username-and-password", "credentials": {
        "host": HOST, "port": kind.port(), "database": kind.database(), "username": user,
        "password": password, "sslEnabled": false, "sslRejectUnauthorized": false}})
}
