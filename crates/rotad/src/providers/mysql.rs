//! MySQL/MariaDB users' passwords as a rotation provider (`mysql-credentials`): the
//! [`Dialect`] of the shared provider (`sql_login.rs`), on the scheme of `sql.rs`.

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::{ConnectOptions, Connection};

use super::sql::{Reach, SqlConnection};
use super::sql_login::{BoxFuture, Dialect, SqlProvider};
use super::RotationType;

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

pub struct MySql;

pub type MySqlProvider = SqlProvider<MySql>;

/// The driver's TLS mode for a connection's settings, as PostgreSQL's (`postgres.rs`).
fn ssl_mode(c: &SqlConnection) -> MySqlSslMode {
    match (c.ssl_enabled, c.ssl_reject_unauthorized) {
        (false, _) => MySqlSslMode::Disabled,
        (true, false) => MySqlSslMode::Required,
        (true, true) => MySqlSslMode::VerifyCa,
    }
}

impl Dialect for MySql {
    type Conn = MySqlConnection;
    const SCHEME: &'static str = "mysql";

    fn connect(
        c: &SqlConnection,
        reach: &Reach,
        username: &str,
        password: &str,
        admin: bool,
    ) -> BoxFuture<'static, Result<MySqlConnection, sqlx::Error>> {
        let mut options = MySqlConnectOptions::new()
            .host(&reach.host)
            .port(reach.port)
            .username(username)
            .password(password)
            .statement_cache_capacity(0)
            // The statements carry passwords: never logged.
            .log_statements(log::LevelFilter::Off)
            .log_slow_statements(log::LevelFilter::Off, std::time::Duration::from_secs(3600))
            .ssl_mode(ssl_mode(c));
        if let Some(pem) = c.ssl_ca() {
            options = options.ssl_ca_from_pem(pem.as_bytes().to_vec());
        }
        // A rotated user may have no grant on the connection's database.
        if admin && !c.database.trim().is_empty() {
            options = options.database(c.database.trim());
        }
        Box::pin(async move { options.connect().await })
    }

    fn execute<'c>(
        conn: &'c mut MySqlConnection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        // A query without arguments goes over the text protocol (ALTER USER is not preparable).
        Box::pin(async move { sqlx::Executor::execute(conn, sql).await.map(|_| ()) })
    }

    fn close(conn: MySqlConnection) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = conn.close().await;
        })
    }

    fn refused(e: &sqlx::Error) -> bool {
        match e {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<MySqlDatabaseError>()
                .is_some_and(|m| m.number() == ACCESS_DENIED),
            _ => false,
        }
    }

    fn set_password(username: &str, password: &str) -> String {
        // Two literals (quotes doubled; usernames with quotes or backslashes are refused).
        format!(
            "ALTER USER '{}' IDENTIFIED BY '{}'",
            username.replace('\'', "''"),
            password.replace('\'', "''")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(enabled: bool, reject: bool, ca: Option<&str>) -> SqlConnection {
        SqlConnection {
            host: "db.example".to_string(),
            port: 3306,
            database: String::new(),
            username: "admin".to_string(),
            password: "secret".to_string(),
            ssl_enabled: enabled,
            ssl_reject_unauthorized: reject,
            ssl_certificate: ca.map(str::to_string),
        }
    }

    #[test]
    fn tls_settings_map_to_the_drivers_modes() {
        assert!(matches!(
            ssl_mode(&connection(false, true, Some("pem"))),
            MySqlSslMode::Disabled
        ));
        assert!(matches!(
            ssl_mode(&connection(true, false, None)),
            MySqlSslMode::Required
        ));
        assert!(matches!(
            ssl_mode(&connection(true, true, None)),
            MySqlSslMode::VerifyCa
        ));
        assert_eq!(connection(false, true, Some("pem")).ssl_ca(), None);
        assert_eq!(connection(true, true, Some("pem")).ssl_ca(), Some("pem"));
        assert_eq!(connection(true, true, Some("  ")).ssl_ca(), None);
    }
}
