//! What the database-credentials providers share (the provider itself in `sql_login.rs`): the
//! connection's credentials, the rotation's parameters, passwords, and the SSRF check of a
//! database host.
//!
//! The scheme (docs/ARCHITECTURE.md, "Providers"): two users the DBA created alternate. A
//! rotation sets a new random password on the user of the inactive slot, logs in with it,
//! and commits; the other user keeps its password until the next rotation replaces it. The
//! password is prepared and sealed onto the intent *before* the `ALTER`, so after a crash the
//! user holds either its old password or that one, and recovery logs in to tell which.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Credential, FailureKind, LoginCredential, ProviderError};

/// A rotation's `parameters` for the SQL credentials types.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlParameters {
    pub username1: String,
    pub username2: String,
}

impl SqlParameters {
    /// The user of slot `slot`.
    pub fn user(&self, slot: usize) -> &str {
        if slot == 0 {
            &self.username1
        } else {
            &self.username2
        }
    }
}

/// A SQL connection's credentials in clear text (upstream's shape). `Debug` hides the password.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SqlConnection {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub ssl_enabled: bool,
    #[serde(default = "yes")]
    pub ssl_reject_unauthorized: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_certificate: Option<String>,
}

fn yes() -> bool {
    true
}

impl SqlConnection {
    /// The CA certificate (PEM) to verify the server against, when TLS is on and one is set.
    pub fn ssl_ca(&self) -> Option<&str> {
        self.ssl_certificate
            .as_deref()
            .filter(|p| self.ssl_enabled && !p.trim().is_empty())
    }
}

impl fmt::Debug for SqlConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &format_args!("[redacted]"))
            .field("ssl_enabled", &self.ssl_enabled)
            .finish()
    }
}

/// Where a connection may be reached: the address to connect to, after the SSRF check.
#[derive(Debug, Clone)]
pub struct Reach {
    /// The host to hand the driver: the checked address when the name was resolved (so no DNS
    /// answer changed after the check can lead elsewhere), else the host as given.
    pub host: String,
    pub port: u16,
    /// Time allowed for connecting and for one statement.
    pub timeout: Duration,
}

/// Checks `host` as dbt instance URLs are checked (no loopback or private address unless
/// `allow_internal`), and pins the address it resolved to.
pub async fn reach(
    connection: &SqlConnection,
    allow_internal: bool,
    timeout: Duration,
) -> Result<Reach, ProviderError> {
    let host = connection.host.trim();
    let bracketed = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]"),
        _ => host.to_string(),
    };
    let url = format!("https://{bracketed}:{}", connection.port);
    let checked = dbt_client::resolve_instance_url(&url, allow_internal)
        .await
        .map_err(|e| ProviderError {
            message: e
                .dbt_message()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
            ambiguous: false,
            kind: FailureKind::Connection,
        })?;
    let host = match checked.pinned.as_ref().and_then(|(_, addrs)| addrs.first()) {
        Some(SocketAddr::V4(a)) => a.ip().to_string(),
        Some(SocketAddr::V6(a)) => a.ip().to_string(),
        None => host.to_string(),
    };
    Ok(Reach {
        host,
        port: connection.port,
        timeout,
    })
}

/// Characters of a generated password: letters, digits and symbols that need no quoting in
/// any SQL string literal or connection string.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!*";
/// Length of a generated password.
pub const PASSWORD_LENGTH: usize = 48;

/// A random password of [`PASSWORD_LENGTH`] characters with at least one lowercase letter, one
/// uppercase letter and one digit.
pub fn random_password() -> String {
    let mut rng = rand::thread_rng();
    loop {
        let password: String = (0..PASSWORD_LENGTH)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        if password.chars().any(|c| c.is_ascii_lowercase())
            && password.chars().any(|c| c.is_ascii_uppercase())
            && password.chars().any(|c| c.is_ascii_digit())
        {
            return password;
        }
    }
}

/// Why a username cannot be used, if it cannot: empty, too long, or holding a quote, a
/// backslash or a control character (usernames go into statements as quoted literals).
pub fn username_issue(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("Username required")
    } else if name.chars().count() > 63 {
        Some("Username must be at most 63 characters")
    } else if name
        .chars()
        .any(|c| c == '\'' || c == '"' || c == '\\' || c == '`' || c.is_control())
    {
        Some("Username must not contain quotes, backslashes or control characters")
    } else {
        None
    }
}

/// A login for `username` with a fresh random password, at `target`.
pub fn fresh_login(username: &str, target: &str) -> Credential {
    Credential::Login(LoginCredential {
        username: username.to_string(),
        password: random_password(),
        target: target.to_string(),
    })
}

/// A database's error as a provider failure, never quoting a password: `secrets` are cut out
/// of the message should the database ever echo one.
pub fn db_failure(
    prefix: &str,
    message: &str,
    secrets: &[&str],
    kind: FailureKind,
) -> ProviderError {
    let mut text = message.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[redacted]");
    }
    ProviderError {
        message: format!("{prefix}: {text}"),
        ambiguous: false,
        kind,
    }
}

/// The login a prepared credential holds (the SQL providers only issue logins).
pub fn login(credential: Option<&Credential>) -> Result<&LoginCredential, ProviderError> {
    match credential {
        Some(Credential::Login(l)) => Ok(l),
        _ => Err(ProviderError {
            message: "A database password must be prepared before it is set".to_string(),
            ambiguous: false,
            kind: FailureKind::Other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_mixed_and_need_no_quoting() {
        for _ in 0..100 {
            let p = random_password();
            assert_eq!(p.len(), PASSWORD_LENGTH);
            assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
        }
        assert_ne!(random_password(), random_password());
    }

    #[test]
    fn usernames_with_quotes_are_refused() {
        assert!(username_issue("app_user_1").is_none());
        assert!(username_issue("a'b").is_some());
        assert!(username_issue("a\\b").is_some());
        assert!(username_issue(" ").is_some());
    }

    #[test]
    fn failures_never_quote_a_password() {
        let e = db_failure(
            "x",
            "near 'Secret123' at line 1",
            &["Secret123"],
            FailureKind::Other,
        );
        assert!(!e.message.contains("Secret123"));
    }
}
