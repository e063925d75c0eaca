//! A server and a dbt Cloud emulator in-process, and the built `rotad` binary run against them
//! with a private config folder and no `ROTAD_*` variables of the caller.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use dbt_cloud_emulator::{Emulator, EmulatorConfig};
use rotad::config::ServeArgs;
use rotad::crypto::RootKey;
use rotad::Server;
use serde_json::{json, Value};

/// A database of its own for one test: SQLite in a temporary folder, or a fresh PostgreSQL
/// database when `TEST_DATABASE_URL` is set (as in the API suite).
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = format!("rotad_cli_{}", uuid::Uuid::new_v4().simple());
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

/// What a `rotad` run left behind.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:#?}");
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// Asserts exit `code` with exactly one line on stderr and nothing on stdout; returns it.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "{self:#?}");
        assert_eq!(self.stderr.lines().count(), 1, "one line: {self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        self.stderr.trim_end()
    }
}

/// One test's world: emulator, server, admin token, and a private config folder.
pub struct Env {
    pub emulator: Emulator,
    pub server: Option<Server>,
    /// Kept alive for the test (dropping it removes the database).
    pub _db: TestDb,
    pub base: String,
    pub token: String,
    pub org_id: String,
    pub config: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn spawn() -> Env {
        let emulator = dbt_cloud_emulator::spawn(EmulatorConfig::default())
            .await
            .expect("emulator starts");
        let db = TestDb::new().await;
        let mut args = ServeArgs::for_database(db.url());
        args.encryption_key = Some(RootKey::generate_base64());
        args.allow_internal_ip_connections = true;
        let server = Server::start(&args).await.expect("server starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = server.url();
        let boot: Value = http
            .post(format!("{base}/api/v1/admin/bootstrap"))
            .json(&json!({"organization": "acme"}))
            .send()
            .await
            .expect("bootstrap")
            .json()
            .await
            .expect("bootstrap json");
        Env {
            emulator,
            server: Some(server),
            _db: db,
            token: boot["identity"]["credentials"]["token"]
                .as_str()
                .expect("token")
                .to_string(),
            org_id: boot["organization"]["id"]
                .as_str()
                .expect("org")
                .to_string(),
            base,
            config: tempfile::tempdir().expect("config dir"),
            http,
        }
    }

    /// `rotad ARGS` as the admin (ROTAD_ADDR and ROTAD_TOKEN set).
    pub async fn rotad(&self, args: &[&str]) -> Out {
        self.run(
            args,
            &[("ROTAD_ADDR", &self.base), ("ROTAD_TOKEN", &self.token)],
            None,
        )
        .await
    }

    /// `rotad ARGS` with only `envs` set (and the private config folder).
    pub async fn run(&self, args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Out {
        run_rotad(args, envs, stdin, self.config.path()).await
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config.path().join("rotad").join("credentials.json")
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.expect("json")
    }

    /// A project created through the CLI; returns its id.
    pub async fn project(&self, name: &str) -> String {
        let out = self.rotad(&["projects", "create", name, "--json"]).await;
        out.json()["project"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// A dbt connection to the emulator created through the CLI (token on stdin); returns its id.
    pub async fn connection(&self, name: &str) -> String {
        let account = self.emulator.account_id().to_string();
        let base_url = self.emulator.base_url();
        let out = self
            .run(
                &[
                    "connections",
                    "create",
                    "--name",
                    name,
                    "--instance-url",
                    &base_url,
                    "--account-id",
                    &account,
                    "--api-token",
                    "-",
                    "--json",
                ],
                &[("ROTAD_ADDR", &self.base), ("ROTAD_TOKEN", &self.token)],
                Some(&self.emulator.admin_token()),
            )
            .await;
        out.json()["appConnection"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// A rotation publishing DBT_SERVICE_TOKEN in `project`'s prod root; returns its id.
    pub async fn rotation(&self, project: &str, connection: &str, name: &str) -> String {
        let out = self
            .rotad(&[
                "rotations",
                "create",
                "--name",
                name,
                "--project",
                project,
                "--env",
                "prod",
                "--connection",
                connection,
                "--grant",
                "job_admin",
                "--no-auto",
                "--json",
            ])
            .await;
        out.json()["secretRotation"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// An identity with universal auth (`ttl` seconds, 0 = server default) that is `admin` of
    /// `project`; returns (clientId, clientSecret).
    pub async fn identity(&self, project: &str, ttl: i64) -> (String, String) {
        let name = format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let identity = self
            .post(
                "/api/v1/identities",
                json!({"name": name, "organizationId": self.org_id, "role": "no-access"}),
            )
            .await;
        let id = identity["identity"]["id"].as_str().expect("id").to_string();
        let mut ua = json!({});
        if ttl > 0 {
            ua = json!({"accessTokenTTL": ttl, "accessTokenMaxTTL": ttl * 100});
        }
        let ua = self
            .post(&format!("/api/v1/auth/universal-auth/identities/{id}"), ua)
            .await;
        let secret = self
            .post(
                &format!("/api/v1/auth/universal-auth/identities/{id}/client-secrets"),
                json!({}),
            )
            .await;
        self.post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "admin", "isTemporary": false}]}),
        )
        .await;
        (
            ua["identityUniversalAuth"]["clientId"]
                .as_str()
                .expect("clientId")
                .to_string(),
            secret["clientSecret"].as_str().expect("secret").to_string(),
        )
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("server stops");
        }
    }
}

/// Runs the built binary in a blocking thread, so the in-process servers keep serving.
pub async fn run_rotad(
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&str>,
    config: &Path,
) -> Out {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stdin = stdin.map(str::to_string);
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rotad"));
        cmd.args(&args)
            .env("XDG_CONFIG_HOME", &config)
            .env("HOME", &config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for var in [
            "ROTAD_ADDR",
            "ROTAD_TOKEN",
            "ROTAD_CLIENT_ID",
            "ROTAD_CLIENT_SECRET",
            "ROTAD_PROJECT",
            "ROTAD_ENV",
            "ROTAD_DBT_API_TOKEN",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(envs);
        let mut child = cmd.spawn().expect("rotad starts");
        if let Some(input) = stdin {
            use std::io::Write;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("rotad runs");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}
