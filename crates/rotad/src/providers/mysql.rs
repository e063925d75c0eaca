//! MySQL/MariaDB users' passwords as a rotation provider (`mysql-credentials`), on the scheme
//! of `sql.rs`.

use async_trait::async_trait;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlQueryResult, MySqlSslMode,
};
use sqlx::{ConnectOptions, Connection};

use super::sql::{db_failure, fresh_login, login, Reach, SqlConnection, SqlParameters};
use super::{Credential, FailureKind, ProviderError, RotationProvider, RotationType};

/// The `mysql-credentials` rotation type.
pub const TYPE: RotationType = RotationType {
    slug: "mysql-credentials",
    name: "MySQL Credentials",
    app: "mysql",
    mapping: &[
        ("username", "MYSQL_DB_USERNAME"),
        ("password", "MYSQL_DB_PASSWORD"),
    ],
};

/// MySQL's "Access denied" to a login (`ER_ACCESS_DENIED_ERROR`).
const ACCESS_DENIED: u16 = 1045;

pub struct MySqlProvider {
    connection: SqlConnection,
    reach: Reach,
    parameters: Option<SqlParameters>,
}

impl MySqlProvider {
    pub fn new(connection: SqlConnection, reach: Reach, parameters: Option<SqlParameters>) -> Self {
        Self {
            connection,
            reach,
            parameters,
        }
    }

    fn options(&self, username: &str, password: &str, database: bool) -> MySqlConnectOptions {
        let c = &self.connection;
        let mut options = MySqlConnectOptions::new()
            .host(&self.reach.host)
            .port(self.reach.port)
            .username(username)
            .password(password)
            .statement_cache_capacity(0)
            // The statements carry passwords: never logged.
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, std::time::Duration::from_secs(3600))
            .ssl_mode(match (c.ssl_enabled, c.ssl_reject_unauthorized) {
                (false, _) => MySqlSslMode::Disabled,
                (true, false) => MySqlSslMode::Required,
                (true, true) => MySqlSslMode::VerifyCa,
            });
        if let Some(pem) = c
            .ssl_certificate
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            options = options.ssl_ca_from_pem(pem.as_bytes().to_vec());
        }
        if database && !c.database.trim().is_empty() {
            options = options.database(c.database.trim());
        }
        options
    }

    /// Logs in; `Ok(None)` when the database refuses the password.
    async fn log_in(
        &self,
        username: &str,
        password: &str,
        database: bool,
    ) -> Result<Option<MySqlConnection>, ProviderError> {
        let options = self.options(username, password, database);
        let connect = tokio::time::timeout(self.reach.timeout, options.connect()).await;
        match connect {
            Err(_) => Err(ProviderError {
                message: "Failed to connect to the database: timed out".to_string(),
                ambiguous: false,
                kind: FailureKind::Timeout,
            }),
            Ok(Ok(conn)) => Ok(Some(conn)),
            Ok(Err(e)) if denied(&e) => Ok(None),
            Ok(Err(e)) => Err(failure(
                "Failed to connect to the database",
                &e,
                &[password],
            )),
        }
    }

    /// The connection's own login (the user that alters the rotated users).
    async fn admin(&self) -> Result<MySqlConnection, ProviderError> {
        let c = &self.connection;
        self.log_in(&c.username, &c.password, true)
            .await?
            .ok_or_else(|| ProviderError {
                message: format!(
                    "Failed to connect to the database: access denied for user \"{}\"",
                    c.username
                ),
                ambiguous: false,
                kind: FailureKind::Auth,
            })
    }

    /// Sets `password` on `username`. A failure after the statement was sent is ambiguous: the
    /// password may be set.
    async fn set_password(&self, username: &str, password: &str) -> Result<(), ProviderError> {
        let mut conn = self.admin().await?;
        // ALTER USER takes no bound parameters; both values are checked to need no escaping
        // (sql::username_issue, sql::random_password) and are quoted as literals.
        let statement = format!(
            "ALTER USER '{}' IDENTIFIED BY '{}'",
            literal(username),
            literal(password)
        );
        let run = tokio::time::timeout(self.reach.timeout, run(&mut conn, &statement)).await;
        let prefix = format!("Failed to set the password of user \"{username}\"");
        let outcome = match run {
            Err(_) => Err(ProviderError {
                message: format!("{prefix}: timed out"),
                ambiguous: true,
                kind: FailureKind::Timeout,
            }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let mut error = failure(&prefix, &e, &[password, &self.connection.password]);
                error.ambiguous = !matches!(e, sqlx::Error::Database(_));
                Err(error)
            }
        };
        let _ = conn.close().await;
        outcome
    }

    /// Whether `username` logs in with `password`.
    async fn logs_in(&self, username: &str, password: &str) -> Result<bool, ProviderError> {
        match self.log_in(username, password, false).await? {
            Some(conn) => {
                let _ = conn.close().await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Connects with the connection's own login and runs a no-op query (`check`).
    pub async fn check(&self) -> Result<(), ProviderError> {
        let mut conn = self.admin().await?;
        let ran = tokio::time::timeout(self.reach.timeout, run(&mut conn, "SELECT 1")).await;
        let _ = conn.close().await;
        match ran {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(failure("Failed to query the database", &e, &[])),
            Err(_) => Err(ProviderError {
                message: "Failed to query the database: timed out".to_string(),
                ambiguous: false,
                kind: FailureKind::Timeout,
            }),
        }
    }
}

/// Runs one statement over the text protocol (no bound parameters). A plain function with
/// named lifetimes, so the future is `Send` inside the provider's `async_trait` methods.
fn run<'c>(
    conn: &'c mut MySqlConnection,
    sql: &'c str,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<MySqlQueryResult, sqlx::Error>> + Send + 'c>,
> {
    // A query without arguments goes over the text protocol (ALTER USER is not preparable).
    sqlx::Executor::execute(conn, sql)
}

/// A value inside a single-quoted literal (quotes doubled; callers refuse backslashes).
fn literal(value: &str) -> String {
    value.replace('\'', "''")
}

fn denied(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|m| m.number() == ACCESS_DENIED),
        _ => false,
    }
}

fn failure(prefix: &str, e: &sqlx::Error, secrets: &[&str]) -> ProviderError {
    let (message, kind) = match e {
        sqlx::Error::Database(db) => (db.message().to_string(), FailureKind::Auth),
        sqlx::Error::Io(io) => (io.to_string(), FailureKind::Connection),
        sqlx::Error::Tls(tls) => (tls.to_string(), FailureKind::Connection),
        other => (other.to_string(), FailureKind::Other),
    };
    db_failure(prefix, &message, secrets, kind)
}

#[async_trait]
impl RotationProvider for MySqlProvider {
    fn target(&self) -> String {
        format!(
            "mysql://{}:{}",
            self.connection.host.trim(),
            self.connection.port
        )
    }

    fn credential_name(&self, _intent_id: &str, slot: usize) -> String {
        self.parameters
            .as_ref()
            .map(|p| p.user(slot).to_string())
            .unwrap_or_default()
    }

    fn prepare(&self, name: &str) -> Option<Credential> {
        Some(fresh_login(name, &self.target()))
    }

    /// Sets the prepared password, then logs in with it.
    async fn issue(
        &self,
        name: &str,
        prepared: Option<&Credential>,
    ) -> Result<Credential, ProviderError> {
        let login = login(prepared)?;
        self.set_password(name, &login.password).await?;
        if !self.logs_in(name, &login.password).await? {
            return Err(ProviderError {
                message: format!(
                    "Failed to verify the new password of user \"{name}\": the database refused it"
                ),
                ambiguous: false,
                kind: FailureKind::Auth,
            });
        }
        Ok(Credential::Login(login.clone()))
    }

    /// The second user exists and may be altered: it gets a password nobody keeps (it is
    /// the inactive slot's user until the first rotation).
    async fn validate(&self) -> Result<(), ProviderError> {
        match &self.parameters {
            Some(p) => self.revoke(&p.username2).await,
            None => Ok(()),
        }
    }

    async fn landed(&self, credential: &Credential) -> Result<bool, ProviderError> {
        self.is_live(credential).await
    }

    /// A user's revocation: a random password nobody keeps.
    async fn revoke(&self, username: &str) -> Result<(), ProviderError> {
        self.set_password(username, &super::sql::random_password())
            .await
    }

    async fn is_live(&self, credential: &Credential) -> Result<bool, ProviderError> {
        match credential {
            Credential::Login(l) => self.logs_in(&l.username, &l.password).await,
            Credential::Token(_) => Ok(false),
        }
    }

    async fn find_named(&self, _name: &str) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }
}
