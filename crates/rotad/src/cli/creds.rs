//! `rotad login` / `rotad logout` and the stored login:
//! `$XDG_CONFIG_HOME/rotad/credentials.json` (else `~/.config/rotad/credentials.json`), mode 0600.
//!
//! The file holds the server address, the access token, its expiry, and the universal-auth
//! client id and secret it was obtained with, so that an expired token can be replaced by
//! logging in again. A token that is expired or close to expiry is renewed
//! (`POST /api/v1/auth/token/renew`) before use, or, when it cannot be renewed, replaced by a
//! fresh login.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{normalize_addr, Client, DEFAULT_ADDR};
use super::output::{duration, print_json};
use super::{Failure, Res};

/// `Debug` redacts the client secret.
#[derive(Args)]
pub struct LoginArgs {
    /// Server URL.
    #[arg(long, env = "ROTAD_ADDR", default_value = DEFAULT_ADDR, value_name = "URL")]
    pub addr: String,
    /// Universal-auth client id.
    #[arg(long, env = "ROTAD_CLIENT_ID")]
    pub client_id: String,
    /// Universal-auth client secret (prefer the environment variable).
    #[arg(long, env = "ROTAD_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Print the server's JSON (it includes the access token).
    #[arg(long)]
    pub json: bool,
}

impl std::fmt::Debug for LoginArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginArgs")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .field("client_secret", &format_args!("[redacted]"))
            .field("json", &self.json)
            .finish()
    }
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Only remove the file; do not revoke the token on the server.
    #[arg(long)]
    pub keep_token: bool,
}

/// What `credentials.json` holds. `Debug` redacts the token and the client secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLogin {
    pub addr: String,
    pub access_token: String,
    /// Unix seconds; 0 when the token does not expire.
    pub expires_at: i64,
    /// The token's TTL in seconds when it was issued or last renewed.
    #[serde(rename = "accessTokenTTL")]
    pub access_token_ttl: i64,
    /// Unix seconds after which the token cannot be renewed; 0 when unbounded.
    pub max_expires_at: i64,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("addr", &self.addr)
            .field("access_token", &format_args!("[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("max_expires_at", &self.max_expires_at)
            .field("client_id", &self.client_id)
            .field("client_secret", &format_args!("[redacted]"))
            .finish()
    }
}

pub fn path() -> Res<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(Failure::usage(
                    "cannot find the credentials file: neither XDG_CONFIG_HOME nor HOME is set",
                ))
            }
        },
    };
    Ok(base.join("rotad").join("credentials.json"))
}

/// The stored login, if any; exit 2 when the file exists but cannot be read.
pub fn load() -> Res<Option<StoredLogin>> {
    let path = path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Failure::usage(format!(
            "{} is not a rotad credentials file ({e}); run `rotad login` again",
            path.display()
        ))
    })
}

fn save(login: &StoredLogin) -> Res<PathBuf> {
    let path = path()?;
    let fail = |e: std::io::Error| Failure::usage(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let text = serde_json::to_string_pretty(login).unwrap_or_default();
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    write_private(&tmp, text.as_bytes()).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })?;
    Ok(path)
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Builds the stored form of a login/renew answer.
fn from_answer(addr: &str, answer: &Value, client_id: &str, client_secret: &str) -> StoredLogin {
    let now = now();
    let ttl = answer["expiresIn"].as_i64().unwrap_or(0);
    let max_ttl = answer["accessTokenMaxTTL"].as_i64().unwrap_or(0);
    StoredLogin {
        addr: addr.to_string(),
        access_token: answer["accessToken"].as_str().unwrap_or("").to_string(),
        expires_at: if ttl > 0 { now + ttl } else { 0 },
        access_token_ttl: ttl,
        max_expires_at: if max_ttl > 0 { now + max_ttl } else { 0 },
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
    }
}

pub async fn login(args: LoginArgs) -> Res<()> {
    let addr = normalize_addr(&args.addr)?;
    let client = Client::anonymous(&addr)?;
    let (id, secret) = (args.client_id.trim(), args.client_secret.trim());
    if id.is_empty() || secret.is_empty() {
        return Err(Failure::usage(
            "--client-id and --client-secret must not be empty",
        ));
    }
    let answer = client.login(id, secret).await?;
    let stored = from_answer(client.base(), &answer, id, secret);
    if stored.access_token.is_empty() {
        return Err(Failure::server(
            "the server's login answer has no accessToken",
        ));
    }
    let path = save(&stored)?;
    if args.json {
        print_json(&answer);
    } else {
        let expiry = match stored.access_token_ttl {
            0 => "does not expire".to_string(),
            ttl => format!("expires in {}", duration(ttl)),
        };
        println!(
            "Logged in to {} as client {id}; the token {expiry} and is renewed automatically.",
            client.base()
        );
        println!("Stored in {} (mode 0600).", path.display());
    }
    Ok(())
}

pub async fn logout(args: LogoutArgs) -> Res<()> {
    let path = path()?;
    let Some(stored) = load()? else {
        println!("Not logged in.");
        return Ok(());
    };
    if !args.keep_token {
        // Best effort: an expired or unreachable token is forgotten all the same.
        if let Ok(client) = Client::anonymous(&stored.addr) {
            let _ = client
                .post(
                    "/api/v1/auth/token/revoke",
                    json!({"accessToken": stored.access_token}),
                )
                .await;
        }
    }
    std::fs::remove_file(&path)
        .map_err(|e| Failure::usage(format!("cannot remove {}: {e}", path.display())))?;
    println!("Logged out of {}.", stored.addr);
    Ok(())
}

/// Seconds before expiry at which a token is renewed: a minute, or half the TTL when shorter.
fn renew_window(ttl: i64) -> i64 {
    (ttl / 2).clamp(1, 60)
}

/// The stored token, renewed or replaced first when it is expired or about to expire.
pub async fn fresh_token(client: &Client, mut login: StoredLogin) -> Res<String> {
    if login.expires_at == 0 {
        return Ok(login.access_token);
    }
    let now = now();
    let window = renew_window(login.access_token_ttl);
    if login.expires_at - now > window {
        return Ok(login.access_token);
    }
    let renewable = login.expires_at > now
        && (login.max_expires_at == 0 || login.max_expires_at - now > window);
    if renewable {
        match client
            .post(
                "/api/v1/auth/token/renew",
                json!({"accessToken": login.access_token}),
            )
            .await
        {
            Ok(answer) => {
                let ttl = answer["expiresIn"].as_i64().unwrap_or(0);
                login.expires_at = if ttl > 0 { now + ttl } else { 0 };
                login.access_token_ttl = ttl.max(login.access_token_ttl);
                if let Some(token) = answer["accessToken"].as_str().filter(|t| !t.is_empty()) {
                    login.access_token = token.to_string();
                }
                save(&login)?;
                return Ok(login.access_token);
            }
            Err(f) if f.code == 3 => return Err(f),
            Err(_) => {} // cannot be renewed: log in again
        }
    }
    let secret = std::env::var("ROTAD_CLIENT_SECRET")
        .ok()
        .filter(|s| {
            !s.trim().is_empty()
                && std::env::var("ROTAD_CLIENT_ID").ok().as_deref()
                    == Some(login.client_id.as_str())
        })
        .unwrap_or_else(|| login.client_secret.clone());
    let answer = client.login(&login.client_id, &secret).await.map_err(|f| {
        if f.code == 3 {
            f
        } else {
            Failure::server(format!(
                "the stored login has expired and logging in again failed: {}; run `rotad login`",
                f.message
            ))
        }
    })?;
    let fresh = from_answer(&login.addr, &answer, &login.client_id, &secret);
    save(&fresh)?;
    Ok(fresh.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        assert_eq!(renew_window(2_592_000), 60);
        assert_eq!(renew_window(10), 5);
        assert_eq!(renew_window(0), 1);
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::{LoginArgs, StoredLogin};

    #[test]
    fn debug_redacts_client_secrets_and_tokens() {
        let args = LoginArgs {
            addr: "http://127.0.0.1:8080".to_string(),
            client_id: "client-1".to_string(),
            client_secret: "KnownSecretClientSecret".to_string(),
            json: false,
        };
        let stored = StoredLogin {
            addr: "http://127.0.0.1:8080".to_string(),
            access_token: "eyJKnownSecretAccessToken".to_string(),
            expires_at: 0,
            access_token_ttl: 0,
            max_expires_at: 0,
            client_id: "client-1".to_string(),
            client_secret: "KnownSecretClientSecret".to_string(),
        };
        for shown in [format!("{args:?}"), format!("{stored:?}")] {
            assert!(!shown.contains("KnownSecret"), "{shown}");
            assert!(
                shown.contains("[redacted]") && shown.contains("client-1"),
                "{shown}"
            );
        }
    }
}
