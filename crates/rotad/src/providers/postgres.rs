//! PostgreSQL roles' passwords as a rotation provider (`postgres-credentials`): the
//! [`Dialect`] of the shared provider (`sql_login.rs`), on the scheme of `sql.rs`.

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use super::sql::{Reach, SqlConnection};
use super::sql_login::{BoxFuture, Dialect, SqlProvider};
use super::RotationType;

/// The `postgres-credentials` rotation type.
pub const TYPE: RotationType = RotationType {
    slug: "postgres-credentials",
    name: "PostgreSQL Credentials",
    app: "postgres",
    mapping: &[
        ("username", "POSTGRES_DB_USERNAME"),
        ("password", "POSTGRES_DB_PASSWORD"),
    ],
};

/// PostgreSQL's refusals of a login: a wrong password, or no `pg_hba.conf` entry for it
/// (which names the reason, e.g. a server that only takes TLS connections).
const REFUSED: [&str; 2] = ["28P01", "28000"];

pub struct Postgres;

pub type PgProvider = SqlProvider<Postgres>;

/// The driver's TLS mode for a connection's settings (docs/SECURITY.md, "Database
/// connections"): off; encrypted without checking the certificate; or checked against the
/// connection's CA (`sslCertificate`) or the built-in roots. The host name is not compared:
/// the driver is handed the address the SSRF check pinned, not the name.
fn ssl_mode(c: &SqlConnection) -> PgSslMode {
    match (c.ssl_enabled, c.ssl_reject_unauthorized) {
        (false, _) => PgSslMode::Disable,
        (true, false) => PgSslMode::Require,
        (true, true) => PgSslMode::VerifyCa,
    }
}

impl Dialect for Postgres {
    type Conn = PgConnection;
    const SCHEME: &'static str = "postgres";

    fn connect(
        c: &SqlConnection,
        reach: &Reach,
        username: &str,
        password: &str,
        _admin: bool,
    ) -> BoxFuture<'static, Result<PgConnection, sqlx::Error>> {
        let database = match c.database.trim() {
            "" => "postgres",
            name => name,
        };
        let mut options = PgConnectOptions::new()
            .host(&reach.host)
            .port(reach.port)
            .username(username)
            .password(password)
            .database(database)
            .statement_cache_capacity(0)
            // The statements carry passwords: never logged.
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, std::time::Duration::from_secs(3600))
            .ssl_mode(ssl_mode(c));
        if let Some(pem) = c.ssl_ca() {
            options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
        }
        Box::pin(async move { options.connect().await })
    }

    fn execute<'c>(
        conn: &'c mut PgConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        // A query without arguments goes over the simple query protocol.
        Box::pin(async move { sqlx::Executor::execute(conn, sql).await.map(|_| ()) })
    }

    fn close(conn: PgConnection) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = conn.close().await;
        })
    }

    fn refused(e: &sqlx::Error) -> bool {
        match e {
            sqlx::Error::Database(db) => db.code().is_some_and(|c| REFUSED.contains(&c.as_ref())),
            _ => false,
        }
    }

    fn set_password(username: &str, password: &str) -> String {
        // An identifier and a literal (quotes doubled; usernames with quotes are refused).
        format!(
            "ALTER ROLE \"{}\" WITH PASSWORD '{}'",
            username.replace('"', "\"\""),
            password.replace('\'', "''")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_map_to_the_drivers_modes() {
        let mut c = SqlConnection {
            host: "db.example".to_string(),
            port: 5432,
            database: String::new(),
            username: "admin".to_string(),
            password: "secret".to_string(),
            ssl_enabled: false,
            ssl_reject_unauthorized: true,
            ssl_certificate: None,
        };
        assert!(matches!(ssl_mode(&c), PgSslMode::Disable));
        c.ssl_enabled = true;
        assert!(matches!(ssl_mode(&c), PgSslMode::VerifyCa));
        c.ssl_reject_unauthorized = false;
        assert!(matches!(ssl_mode(&c), PgSslMode::Require));
    }
}
