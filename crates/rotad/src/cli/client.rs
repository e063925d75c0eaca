//! The HTTP side of the command line: resolving the server and token, sending requests, and
//! turning answers into [`Failure`]s with the server's message on one line.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::creds;
use super::{Conn, Failure, Res};

pub const DEFAULT_ADDR: &str = "http://127.0.0.1:8080";

/// A client bound to one server and (usually) one access token. `Debug` redacts the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("http", &self.http)
            .field("base", &self.base)
            .field(
                "token",
                &self.token.as_ref().map(|_| format_args!("[redacted]")),
            )
            .finish()
    }
}

/// `http://host:port` without a trailing slash; exit 2 when it is not a URL.
pub fn normalize_addr(addr: &str) -> Res<String> {
    let trimmed = addr.trim().trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(trimmed.to_string())
        }
        _ => Err(Failure::usage(format!(
            "--addr/ROTAD_ADDR must be a URL like {DEFAULT_ADDR}, got {addr:?}"
        ))),
    }
}

impl Client {
    /// A client without a token (login, bootstrap, status).
    pub fn anonymous(addr: &str) -> Res<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("rotad-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::usage(format!("cannot set up HTTP: {e}")))?;
        Ok(Client {
            http,
            base: normalize_addr(addr)?,
            token: None,
        })
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// Resolves address and token with precedence flag > env > stored login, renewing the
    /// stored token when it is expired or about to expire.
    pub async fn connect(conn: &Conn) -> Res<Client> {
        let stored = creds::load()?;
        let explicit = conn
            .addr
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(normalize_addr)
            .transpose()?;
        let addr = match (&explicit, &stored) {
            (Some(a), _) => a.clone(),
            (None, Some(s)) => s.addr.clone(),
            (None, None) => DEFAULT_ADDR.to_string(),
        };
        let client = Client::anonymous(&addr)?;
        if let Some(token) = conn.token.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok(client.with_token(token.trim()));
        }
        match stored {
            Some(login) if login.addr == client.base => {
                let token = creds::fresh_token(&client, login).await?;
                Ok(client.with_token(token))
            }
            Some(login) => Err(Failure::usage(format!(
                "no access token for {}: the stored login is for {}; pass --token, set \
                 ROTAD_TOKEN or run `rotad login --addr {}`",
                client.base, login.addr, client.base
            ))),
            None => Err(Failure::usage(
                "no access token: pass --token, set ROTAD_TOKEN or run `rotad login`",
            )),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Res<Value> {
        self.send(Method::GET, path, query, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Res<Value> {
        self.send(Method::POST, path, &[], Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Res<Value> {
        self.send(Method::PATCH, path, &[], Some(body)).await
    }
    pub async fn delete(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Res<Value> {
        self.send(Method::DELETE, path, query, body).await
    }

    /// Sends one request; a 2xx answer's JSON (or `null` when empty), else a [`Failure`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Res<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure::http(
                status.as_u16(),
                server_message(status, &body),
            ))
        }
    }

    fn transport(&self, e: reqwest::Error) -> Failure {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let line = s.to_string();
            if !text.contains(&line) {
                text = format!("{text}: {line}");
            }
            source = s.source();
        }
        if e.is_builder() {
            Failure::usage(format!("bad request to {}: {text}", self.base))
        } else {
            Failure::unreachable(format!("cannot reach the server at {}: {text}", self.base))
        }
    }

    /// Resolves a project given by id, slug or name to its id.
    pub async fn project_id(&self, project: &str) -> Res<String> {
        let project = project.trim();
        if uuid::Uuid::parse_str(project).is_ok() {
            return Ok(project.to_string());
        }
        let list = self.get("/api/v1/projects", &[]).await?;
        list["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["slug"] == project || p["name"] == project)
            .and_then(|p| p["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                Failure::server(format!(
                    "Project with id, slug or name '{project}' not found"
                ))
            })
    }

    /// Universal-auth login; the server's answer.
    pub async fn login(&self, client_id: &str, client_secret: &str) -> Res<Value> {
        self.post(
            "/api/v1/auth/universal-auth/login",
            json!({"clientId": client_id, "clientSecret": client_secret}),
        )
        .await
    }
}

/// The server's `message`; for 422, the issues as `path: message` joined with `; `.
pub fn server_message(status: StatusCode, body: &Value) -> String {
    let text = match &body["message"] {
        Value::String(m) => m.clone(),
        Value::Array(issues) => issues
            .iter()
            .map(|i| {
                let path = i["path"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|s| match s {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let message = i["message"].as_str().unwrap_or("invalid");
                if path.is_empty() {
                    message.to_string()
                } else {
                    format!("{path}: {message}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => match body {
            Value::String(s) => s.chars().take(200).collect(),
            _ => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_string(),
        },
    };
    format!("{text} (HTTP {})", status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let body = json!({"message": [
            {"code": "too_small", "path": ["parameters", "permissionGrants", 0, "permissionSet"], "message": "bad"},
            {"code": "x", "path": [], "message": "other"}
        ]});
        assert_eq!(
            server_message(StatusCode::UNPROCESSABLE_ENTITY, &body),
            "parameters.permissionGrants.0.permissionSet: bad; other (HTTP 422)"
        );
        assert_eq!(
            server_message(StatusCode::NOT_FOUND, &json!({"message": "gone"})),
            "gone (HTTP 404)"
        );
        assert_eq!(
            server_message(StatusCode::BAD_GATEWAY, &Value::Null),
            "Bad Gateway (HTTP 502)"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_addr("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            normalize_addr("localhost:8080").err().map(|f| f.code),
            Some(2)
        );
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::Client;

    #[test]
    fn debug_redacts_the_token() {
        let client = Client {
            http: reqwest::Client::new(),
            base: "http://127.0.0.1:8080".to_string(),
            token: Some("eyJKnownSecretAccessToken".to_string()),
        };
        let shown = format!("{client:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("127.0.0.1:8080"),
            "{shown}"
        );
    }
}
