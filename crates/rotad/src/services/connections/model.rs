//! What an app connection is, and the checks its input must pass before anything is stored.

use std::fmt;

use dbt_client::DbtError;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Issue};
use crate::services::projects::is_slug;

/// dbt Cloud.
pub const APP_DBT: &str = "dbt";
/// MySQL and MariaDB.
pub const APP_MYSQL: &str = "mysql";
/// PostgreSQL.
pub const APP_POSTGRES: &str = "postgres";
/// dbt's one connection method.
pub const METHOD_API_TOKEN: &str = "api-token";
/// The SQL connections' one method.
pub const METHOD_USERNAME_PASSWORD: &str = "username-and-password";

/// What upstream calls an app in messages.
pub fn app_name(app: &str) -> &str {
    match app {
        APP_DBT => "DBT",
        APP_MYSQL => "MySQL",
        APP_POSTGRES => "PostgreSQL",
        other => other,
    }
}

/// A SQL connection's credentials as answers show them: without the password.
#[derive(Debug, Clone)]
pub struct SqlConnectionView {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub username: String,
    pub ssl_enabled: bool,
    pub ssl_reject_unauthorized: bool,
    pub ssl_certificate: Option<String>,
}

/// A dbt connection's credentials in clear text. `Debug` hides the token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DbtCredentials {
    pub instance_url: String,
    pub account_id: String,
    pub api_token: String,
}

impl fmt::Debug for DbtCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbtCredentials")
            .field("instance_url", &self.instance_url)
            .field("account_id", &self.account_id)
            .field("api_token", &format_args!("[redacted]"))
            .finish()
    }
}

impl DbtCredentials {
    /// The credentials with surrounding whitespace removed, as upstream stores them.
    pub fn trimmed(&self) -> DbtCredentials {
        DbtCredentials {
            instance_url: self.instance_url.trim().to_string(),
            account_id: self.account_id.trim().to_string(),
            api_token: self.api_token.trim().to_string(),
        }
    }
}

/// An app connection as services hand it out: everything but the API token, which stays
/// sealed in the store until the provider factory ([`super::ConnectionProviders`]) needs it.
#[derive(Debug, Clone)]
pub struct AppConnection {
    pub id: String,
    pub org_id: String,
    pub project_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub app: String,
    pub method: String,
    /// dbt's instance and account (empty for another app's connection).
    pub instance_url: String,
    pub account_id: String,
    /// A SQL connection's credentials without the password (`None` for dbt).
    pub sql: Option<SqlConnectionView>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The permission sets its tokens may get (the default list unless set).
    pub allowed_permission_sets: Vec<String>,
    /// SHA-256 (hex) of the sealed credentials: changes whenever they are replaced, and tells
    /// nothing about them (docs/COMPATIBILITY.md).
    pub credentials_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub method: String,
    pub credentials: DbtCredentials,
    /// The permission sets the connection hands out; `None` for the default list.
    pub allowed_permission_sets: Option<Vec<String>>,
}

/// A PATCH: absent fields stay as they are; credentials are replaced whole.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub credentials: Option<DbtCredentials>,
    /// `Some(None)` goes back to the default list.
    pub allowed_permission_sets: Option<Option<Vec<String>>>,
}

/// Checks a list of permission sets: known sets, at most every set once.
pub fn permission_set_issues(sets: &[String]) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        if !crate::providers::dbt::PERMISSION_SETS.contains(&set.as_str()) {
            issues.push(Issue::new(
                "invalid_enum_value",
                &["allowedPermissionSets", &i.to_string()],
                format!("Unknown dbt permission set \"{set}\""),
            ));
        }
    }
    if sets.len() > crate::providers::dbt::PERMISSION_SETS.len() {
        issues.push(Issue::new(
            "too_big",
            &["allowedPermissionSets"],
            "Each permission set at most once",
        ));
    }
    issues
}

/// Checks a connection name: 1–32 lowercase letters, digits and hyphens.
pub fn name_issues(name: &str) -> Vec<Issue> {
    let name = name.trim();
    let message = if name.is_empty() {
        "name field must be at least 1 lowercase character"
    } else if name.chars().count() > 32 {
        "name field must be at most 32 lowercase characters"
    } else if !is_slug(name) {
        "name field can only contain lowercase letters, numbers, and hyphens"
    } else {
        return Vec::new();
    };
    vec![Issue::new("custom", &["name"], message)]
}

pub fn description_issues(description: Option<&str>) -> Vec<Issue> {
    match description {
        Some(d) if d.trim().chars().count() > 256 => vec![Issue::new(
            "too_big",
            &["description"],
            "String must contain at most 256 character(s)",
        )],
        _ => Vec::new(),
    }
}

pub fn method_issues(method: &str) -> Vec<Issue> {
    if method == METHOD_API_TOKEN {
        Vec::new()
    } else {
        vec![Issue::new(
            "invalid_union_discriminator",
            &["method"],
            "Invalid discriminator value. Expected 'api-token'",
        )]
    }
}

/// Upstream's rules for dbt credentials (`DbtConnectionApiTokenCredentialsSchema`).
pub fn credential_issues(credentials: &DbtCredentials) -> Vec<Issue> {
    let c = credentials.trimmed();
    let mut issues = Vec::new();
    if c.instance_url.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &["credentials", "instanceUrl"],
            "Instance URL required",
        ));
    } else if url::Url::parse(&c.instance_url).is_err() {
        issues.push(Issue::new(
            "invalid_string",
            &["credentials", "instanceUrl"],
            "Invalid Instance URL",
        ));
    }
    for (field, value, label) in [
        ("accountId", &c.account_id, "Account ID required"),
        ("apiToken", &c.api_token, "API Token required"),
    ] {
        if value.is_empty() {
            issues.push(Issue::new("too_small", &["credentials", field], label));
        } else if value.chars().count() > 255 {
            issues.push(Issue::new(
                "too_big",
                &["credentials", field],
                "String must contain at most 255 character(s)",
            ));
        }
    }
    issues
}

/// The API's answer to a failed dbt call, decided here for connections and rotations alike:
/// URL and SSRF refusals pass through with the client's message; anything else becomes
/// `<context>: <dbt's message, or the error>`. All are 400s. Messages never hold a token
/// (the client scrubs them).
pub fn dbt_error(context: &str, err: &DbtError) -> Error {
    match err {
        DbtError::InvalidUrl { message } | DbtError::Blocked { message } => {
            Error::bad_request(message.clone())
        }
        _ => Error::bad_request(format!("{context}: {}", dbt_message(err))),
    }
}

/// dbt's own message when it sent one, else the client's description of the failure.
pub fn dbt_message(err: &DbtError) -> String {
    err.dbt_message()
        .map(str::to_string)
        .unwrap_or_else(|| err.to_string())
}

#[cfg(test)]
mod redaction_tests {
    use super::DbtCredentials;

    #[test]
    fn debug_redacts_the_api_token() {
        let credentials = DbtCredentials {
            instance_url: "https://cloud.example".to_string(),
            account_id: "12345".to_string(),
            api_token: "dbtc_KnownSecretApiToken".to_string(),
        };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(shown.contains("api_token: [redacted]"), "{shown}");
        assert!(
            shown.contains("https://cloud.example") && shown.contains("12345"),
            "{shown}"
        );
    }
}
