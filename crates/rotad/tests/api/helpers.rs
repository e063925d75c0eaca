use std::time::Duration;

use reqwest::{Method, StatusCode};
use rotad::config::ServeArgs;
use rotad::crypto::RootKey;
use rotad::Server;
use serde_json::{json, Value};

/// A database of its own for one test.
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    pub async fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = format!("rotad_test_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create database");
                pool.close().await;
                TestDb::Postgres { admin_url, name }
            }
            None => TestDb::Sqlite {
                dir: tempfile::tempdir().expect("tempdir"),
            },
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => format!("sqlite://{}/rotad.db", dir.path().display()),
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(admin_url);
                format!("{base}/{name}")
            }
        }
    }

    /// Every byte the database holds for our tables, as text, to look for plaintext.
    pub async fn dump(&self) -> Vec<u8> {
        match self {
            TestDb::Sqlite { dir } => {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(dir.path()).expect("read dir") {
                    let path = entry.expect("entry").path();
                    if path.extension().is_some_and(|e| e == "key") {
                        continue;
                    }
                    out.extend(std::fs::read(path).expect("read db file"));
                }
                out
            }
            TestDb::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url()).await.expect("connect");
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(&pool)
                .await
                .expect("tables");
                let mut out = Vec::new();
                for (table,) in tables {
                    let rows: Vec<(String,)> =
                        sqlx::query_as(&format!("SELECT t::text FROM {table} t"))
                            .fetch_all(&pool)
                            .await
                            .expect("rows");
                    for (row,) in rows {
                        out.extend(row.into_bytes());
                        out.push(b'\n');
                    }
                }
                pool.close().await;
                out
            }
        }
    }
}

impl TestDb {
    /// Runs one statement directly on the database (tests only: to make rotations due).
    pub async fn execute(&self, sql: &str) {
        match self {
            TestDb::Sqlite { .. } => {
                let pool = sqlx::SqlitePool::connect(&self.url())
                    .await
                    .expect("connect");
                sqlx::query(sql).execute(&pool).await.expect("execute");
                pool.close().await;
            }
            TestDb::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url()).await.expect("connect");
                sqlx::query(sql).execute(&pool).await.expect("execute");
                pool.close().await;
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub server: Option<Server>,
    pub db: TestDb,
    pub key: String,
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub org_id: String,
    /// What the in-process server was started with (for restarts).
    pub args: ServeArgs,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// A bootstrapped server with an admin token.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// [`TestApp::spawn`] with settings changed by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
        let db = TestDb::new().await;
        let key = RootKey::generate_base64();
        let mut args = Self::args(&db, &key);
        configure(&mut args);
        let mut app = Self::start_with(db, key, &args).await;
        app.bootstrap("acme").await;
        app
    }

    /// Bootstraps the instance; keeps the admin token and the organization id.
    pub async fn bootstrap(&mut self, organization: &str) {
        let boot = self
            .call(
                Method::POST,
                "/api/v1/admin/bootstrap",
                None,
                Some(json!({"organization": organization})),
            )
            .await;
        assert_eq!(boot.status, 200, "{}", boot.body);
        self.token = boot.body["identity"]["credentials"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        self.org_id = boot.body["organization"]["id"]
            .as_str()
            .expect("org")
            .to_string();
    }

    pub fn args(db: &TestDb, key: &str) -> ServeArgs {
        let mut args = ServeArgs::for_database(db.url());
        args.encryption_key = Some(key.to_string());
        args.allow_internal_ip_connections = true;
        args
    }

    pub async fn start_with(db: TestDb, key: String, args: &ServeArgs) -> TestApp {
        let server = Server::start(args).await.expect("server starts");
        TestApp {
            base: server.url(),
            server: Some(server),
            db,
            key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            token: String::new(),
            org_id: String::new(),
            args: args.clone(),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops");
        }
    }

    /// Stops the in-process server (if running) and starts it again on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = Server::start(&self.args).await.expect("server restarts");
        self.base = server.url();
        self.server = Some(server);
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&self.token.clone()), None)
            .await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&self.token.clone()), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(&self.token.clone()), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, body: Value) -> Answer {
        self.call(Method::DELETE, path, Some(&self.token.clone()), Some(body))
            .await
    }

    /// Creates a project; returns its id.
    pub async fn project(&self, name: &str) -> String {
        let res = self
            .post("/api/v2/workspace", json!({"projectName": name}))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["project"]["id"].as_str().expect("id").to_string()
    }

    /// An identity with universal auth and a client secret; returns (id, clientId, clientSecret).
    pub async fn identity(&self, name: &str, org_role: &str) -> (String, String, String) {
        self.identity_with(name, org_role, json!({})).await
    }

    /// [`TestApp::identity`] with universal-auth `settings`.
    pub async fn identity_with(
        &self,
        name: &str,
        org_role: &str,
        settings: Value,
    ) -> (String, String, String) {
        let res = self
            .post(
                "/api/v1/identities",
                json!({"name": name, "organizationId": self.org_id, "role": org_role}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        let id = res.body["identity"]["id"].as_str().expect("id").to_string();
        let ua = self
            .post(
                &format!("/api/v1/auth/universal-auth/identities/{id}"),
                settings,
            )
            .await;
        assert_eq!(ua.status, 200, "{}", ua.body);
        let client_id = ua.body["identityUniversalAuth"]["clientId"]
            .as_str()
            .expect("clientId")
            .to_string();
        let cs = self
            .post(
                &format!("/api/v1/auth/universal-auth/identities/{id}/client-secrets"),
                json!({}),
            )
            .await;
        assert_eq!(cs.status, 200, "{}", cs.body);
        let secret = cs.body["clientSecret"]
            .as_str()
            .expect("clientSecret")
            .to_string();
        (id, client_id, secret)
    }

    pub async fn login(&self, client_id: &str, client_secret: &str) -> Answer {
        self.call(
            Method::POST,
            "/api/v1/auth/universal-auth/login",
            None,
            Some(json!({"clientId": client_id, "clientSecret": client_secret})),
        )
        .await
    }

    /// A logged-in identity with `role` in `project`; returns its access token.
    pub async fn member_token(&self, project: &str, role: &str) -> String {
        let (id, client_id, secret) = self
            .identity(
                &format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
                "no-access",
            )
            .await;
        let m = self
            .post(
                &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
                json!({"roles": [{"role": role, "isTemporary": false}]}),
            )
            .await;
        assert_eq!(m.status, 200, "{}", m.body);
        let login = self.login(&client_id, &secret).await;
        assert_eq!(login.status, 200, "{}", login.body);
        login.body["accessToken"]
            .as_str()
            .expect("token")
            .to_string()
    }

    pub async fn create_secret(&self, project: &str, path: &str, key: &str, value: &str) -> Answer {
        self.post(
            &format!("/api/v3/secrets/raw/{key}"),
            json!({"workspaceId": project, "environment": "dev", "secretPath": path, "secretValue": value, "type": "shared"}),
        )
        .await
    }
}

/// Asserts the upstream error envelope with `status`; returns the message.
pub fn assert_envelope(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let req_id = body["reqId"].as_str().expect("reqId");
    assert_eq!(
        answer
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(req_id),
        "request id header equals reqId"
    );
    if status != 422 {
        assert!(body["message"].is_string(), "{body}");
    }
    body["message"].clone()
}
