//! MariaDB on 127.0.0.1:3306 for the database credentials rotations: users of a test's own,
//! logins through a real client connection, and a rig (server, project, `mysql` connection).

use serde_json::{json, Value};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::helpers::{Answer, TestApp};

pub const MYSQL_ROTATIONS: &str = "/api/v2/secret-rotations/mysql-credentials";
const HOST: &str = "127.0.0.1";
const PORT: u16 = 3306;

/// A fresh suffix for names of one test.
fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// Runs `sql` as MariaDB's root.
pub async fn root(sql: &str) {
    let mut conn = MySqlConnectOptions::new()
        .host(HOST)
        .port(PORT)
        .username("root")
        .connect()
        .await
        .expect("MariaDB root login on 127.0.0.1:3306");
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

/// Whether `user` logs in with `password` (a real client connection and a query).
pub async fn logs_in(user: &str, password: &str) -> bool {
    let conn = MySqlConnectOptions::new()
        .host(HOST)
        .port(PORT)
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

/// The users of one test: an admin that may alter users, and the two rotated users.
pub struct Users {
    pub admin: String,
    pub admin_password: String,
    pub user1: String,
    pub user2: String,
}

impl Users {
    /// Creates them (the rotated ones with passwords nobody keeps).
    pub async fn create() -> Users {
        let s = suffix();
        let users = Users {
            admin: format!("adm_{s}"),
            admin_password: format!("Adm1n-{s}"),
            user1: format!("u1_{s}"),
            user2: format!("u2_{s}"),
        };
        root(&format!(
            "CREATE USER '{a}'@'%' IDENTIFIED BY '{p}'; GRANT CREATE USER ON *.* TO '{a}'@'%'; \
             CREATE USER '{u1}'@'%' IDENTIFIED BY 'X-{s}-1'; \
             CREATE USER '{u2}'@'%' IDENTIFIED BY 'X-{s}-2'",
            a = users.admin,
            p = users.admin_password,
            u1 = users.user1,
            u2 = users.user2,
        ))
        .await;
        users
    }

    /// A user that logs in but may alter nobody; returns (name, password).
    pub async fn unprivileged() -> (String, String) {
        let s = suffix();
        let (name, password) = (format!("low_{s}"), format!("Low-{s}"));
        root(&format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"
        ))
        .await;
        (name, password)
    }

    pub async fn drop_all(&self) {
        root(&format!(
            "DROP USER IF EXISTS '{}'@'%', '{}'@'%', '{}'@'%'",
            self.admin, self.user1, self.user2
        ))
        .await;
    }
}

pub struct SqlRig {
    pub app: TestApp,
    pub project: String,
    pub connection: String,
    pub users: Users,
}

impl SqlRig {
    pub async fn new() -> SqlRig {
        Self::on(TestApp::spawn().await).await
    }

    /// A rig on a bootstrapped `app`: MariaDB users, a project and a `mysql` connection.
    pub async fn on(app: TestApp) -> SqlRig {
        let users = Users::create().await;
        let project = app.project("databases").await;
        let conn = app
            .post(
                "/api/v1/app-connections/mysql",
                connection_body("mariadb-main", &users.admin, &users.admin_password),
            )
            .await;
        assert_eq!(conn.status, 200, "{}", conn.body);
        let connection = conn.body["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        SqlRig {
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
            .post(MYSQL_ROTATIONS, self.body("db-creds", &self.connection))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["secretRotation"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    pub async fn rotate(&self, id: &str) -> Answer {
        self.app
            .post(&format!("{MYSQL_ROTATIONS}/{id}/rotate-secrets"), json!({}))
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
            .get(&format!("{MYSQL_ROTATIONS}/{id}/generated-credentials"))
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

pub fn connection_body(name: &str, user: &str, password: &str) -> Value {
    json!({"name": name, "method": "username-and-password", "credentials": {
        "host": HOST, "port": PORT, "database": "", "username": user, "password": password,
        "sslEnabled": false, "sslRejectUnauthorized": false}})
}
