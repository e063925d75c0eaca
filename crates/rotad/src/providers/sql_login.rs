//! The rotation provider every database type shares, on the scheme of `sql.rs`: connect
//! (with TLS as the connection asks), set a password, log in to verify it. What differs
//! between database servers (the driver, the statement, how a refused login reads) is a
//! [`Dialect`]: `mysql.rs` and `postgres.rs` are one each (docs/ARCHITECTURE.md, "Providers").

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use super::sql::{db_failure, fresh_login, login, Reach, SqlConnection, SqlParameters};
use super::{Credential, FailureKind, ProviderError, RotationProvider};

/// A boxed `Send` future (the drivers' connections are used inside `async_trait` methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One database server's driver and statements.
pub trait Dialect: Send + Sync + 'static {
    type Conn: Send + 'static;
    /// The scheme of the provider's target (`postgres://host:port`).
    const SCHEME: &'static str;
    /// Opens a connection as `username`, with TLS as `connection` asks; `admin` says it is
    /// the connection's own login (which works in the connection's database).
    fn connect(
        connection: &SqlConnection,
        reach: &Reach,
        username: &str,
        password: &str,
        admin: bool,
    ) -> BoxFuture<'static, Result<Self::Conn, sqlx::Error>>;
    /// Runs one statement over the text protocol (no bound parameters).
    fn execute<'c>(
        conn: &'c mut Self::Conn,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;
    fn close(conn: Self::Conn) -> BoxFuture<'static, ()>;
    /// Whether the server refused the login itself (a wrong password, no matching entry).
    fn refused(e: &sqlx::Error) -> bool;
    /// The statement giving `username` the password `password`. Neither takes bound
    /// parameters; both values are checked to need no escaping (`sql::username_issue`,
    /// `sql::random_password`).
    fn set_password(username: &str, password: &str) -> String;
}

/// A database credentials provider over the dialect `D`.
pub struct SqlProvider<D> {
    connection: SqlConnection,
    reach: Reach,
    parameters: Option<SqlParameters>,
    dialect: std::marker::PhantomData<D>,
}

/// A login the server refused, with its reason (passwords cut out).
struct Refused(String);

impl<D: Dialect> SqlProvider<D> {
    pub fn new(connection: SqlConnection, reach: Reach, parameters: Option<SqlParameters>) -> Self {
        Self {
            connection,
            reach,
            parameters,
            dialect: std::marker::PhantomData,
        }
    }

    /// Logs in; `Ok(Err(_))` when the server refuses the login.
    async fn log_in(
        &self,
        username: &str,
        password: &str,
        admin: bool,
    ) -> Result<Result<D::Conn, Refused>, ProviderError> {
        let connect = D::connect(&self.connection, &self.reach, username, password, admin);
        match tokio::time::timeout(self.reach.timeout, connect).await {
            Err(_) => Err(ProviderError {
                message: "Failed to connect to the database: timed out".to_string(),
                ambiguous: false,
                kind: FailureKind::Timeout,
            }),
            Ok(Ok(conn)) => Ok(Ok(conn)),
            Ok(Err(e)) if D::refused(&e) => Ok(Err(Refused(
                failure(
                    "Failed to connect to the database",
                    &e,
                    &[password, &self.connection.password],
                )
                .message,
            ))),
            Ok(Err(e)) => Err(failure(
                "Failed to connect to the database",
                &e,
                &[password, &self.connection.password],
            )),
        }
    }

    /// The connection's own login (the user that alters the rotated users).
    async fn admin(&self) -> Result<D::Conn, ProviderError> {
        let c = &self.connection;
        self.log_in(&c.username, &c.password, true)
            .await?
            .map_err(|Refused(message)| ProviderError {
                message,
                ambiguous: false,
                kind: FailureKind::Auth,
            })
    }

    /// Runs `sql` over a connection of the admin login, within the timeout. A failure after
    /// the statement was sent is ambiguous (it may have taken effect) unless the server
    /// answered with an error.
    async fn run_admin(
        &self,
        prefix: &str,
        sql: &str,
        secrets: &[&str],
    ) -> Result<(), ProviderError> {
        let mut conn = self.admin().await?;
        let ran = tokio::time::timeout(self.reach.timeout, D::execute(&mut conn, sql)).await;
        let outcome = match ran {
            Err(_) => Err(ProviderError {
                message: format!("{prefix}: timed out"),
                ambiguous: true,
                kind: FailureKind::Timeout,
            }),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let mut error = failure(prefix, &e, secrets);
                error.ambiguous = !matches!(e, sqlx::Error::Database(_));
                Err(error)
            }
        };
        D::close(conn).await;
        outcome
    }

    /// Sets `password` on `username`.
    async fn set_password(&self, username: &str, password: &str) -> Result<(), ProviderError> {
        let prefix = format!("Failed to set the password of user \"{username}\"");
        let statement = D::set_password(username, password);
        self.run_admin(&prefix, &statement, &[password, &self.connection.password])
            .await
    }

    /// Whether `username` logs in with `password`.
    async fn logs_in(&self, username: &str, password: &str) -> Result<bool, ProviderError> {
        match self.log_in(username, password, false).await? {
            Ok(conn) => {
                D::close(conn).await;
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// Connects with the connection's own login and runs a no-op query (`check`).
    pub async fn check(&self) -> Result<(), ProviderError> {
        self.run_admin(
            "Failed to query the database",
            "SELECT 1",
            &[&self.connection.password],
        )
        .await
        .map_err(|e| ProviderError {
            ambiguous: false,
            ..e
        })
    }
}

/// A driver's error as a provider failure, never quoting `secrets`.
fn failure(prefix: &str, e: &sqlx::Error, secrets: &[&str]) -> ProviderError {
    let (message, kind) = match e {
        sqlx::Error::Database(db) => (db.message().to_string(), FailureKind::Auth),
        sqlx::Error::Io(io) if io.get_ref().is_some_and(|e| tls_text(&e.to_string())) => (
            format!("TLS handshake failed: {io}"),
            FailureKind::Connection,
        ),
        sqlx::Error::Io(io) => (io.to_string(), FailureKind::Connection),
        sqlx::Error::Tls(tls) => (
            format!("TLS handshake failed: {tls}"),
            FailureKind::Connection,
        ),
        other => (other.to_string(), FailureKind::Other),
    };
    db_failure(prefix, &message, secrets, kind)
}

/// Whether an I/O error's text is the TLS layer's (rustls reports a refused certificate or a
/// failed handshake through the socket's error).
fn tls_text(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("certificate") || text.contains("handshake") || text.contains("tls")
}

#[async_trait]
impl<D: Dialect> RotationProvider for SqlProvider<D> {
    fn target(&self) -> String {
        format!(
            "{}://{}:{}",
            D::SCHEME,
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

    /// Sets the prepared password, then logs in with it. Once the `ALTER` took effect, a
    /// failure is ambiguous: the user holds the new password, which the engine keeps sealed
    /// on the intent for recovery to verify and publish (docs/ARCHITECTURE.md, "Providers").
    async fn issue(
        &self,
        name: &str,
        prepared: Option<&Credential>,
    ) -> Result<Credential, ProviderError> {
        let login = login(prepared)?;
        self.set_password(name, &login.password).await?;
        let verified = self.logs_in(name, &login.password).await;
        match verified {
            Ok(true) => Ok(Credential::Login(login.clone())),
            Ok(false) => Err(ProviderError {
                message: format!(
                    "Failed to verify the new password of user \"{name}\": the database refused it"
                ),
                ambiguous: true,
                kind: FailureKind::Auth,
            }),
            Err(e) => Err(ProviderError {
                message: format!(
                    "Failed to verify the new password of user \"{name}\": {}",
                    e.message
                ),
                ambiguous: true,
                ..e
            }),
        }
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
