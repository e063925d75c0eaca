//! Typed dbt Cloud objects the client returns.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::envelope::{lenient_timestamp, null_as_default};

/// Token state `1`: active.
pub const STATE_ACTIVE: i32 = 1;
/// Token state `2`: deleted.
pub const STATE_DELETED: i32 = 2;

/// A permission grant. `project_id: None` covers all projects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionGrant {
    pub permission_set: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<i64>,
}

/// The account, from `GET /api/v2/accounts/{id}/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub state: Option<i32>,
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub locked: Option<bool>,
}

/// A service token as listed or read: no secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceToken {
    pub id: i64,
    #[serde(default)]
    pub account_id: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    /// 1 active, 2 deleted.
    pub state: i32,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub last_used: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub permission_grants: Vec<PermissionGrant>,
}

impl ServiceToken {
    pub fn is_active(&self) -> bool {
        self.state == STATE_ACTIVE
    }
}

/// A just-created token: the only time dbt returns its secret. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The full secret, `dbtc_<uid><token>`.
    pub token_string: String,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token_string", &"***")
            .finish()
    }
}

/// What dbt says about a token id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// It exists and is active.
    Live(ServiceToken),
    /// It is unknown (404) or deleted (`state: 2`).
    Revoked,
}

/// A dbt Cloud project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// `""` when dbt has none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_token_debug_hides_the_secret() {
        let token = CreatedToken {
            id: 1,
            name: "n".into(),
            token_string: "dbtc_AbCdEfGsecret".into(),
        };
        let debug = format!("{token:?}");
        assert!(!debug.contains("dbtc_"), "{debug}");
    }

    #[test]
    fn service_tokens_parse_leniently() {
        let token: ServiceToken = serde_json::from_value(serde_json::json!({
            "id": 3, "name": null, "state": 2, "created_at": "2025-10-06 05:55:54.587854+00:00",
            "updated_at": "not a time", "permission_grants": null, "token_string": null
        }))
        .expect("parses");
        assert_eq!(token.name, "");
        assert!(token.created_at.is_some());
        assert!(token.updated_at.is_none());
        assert!(token.permission_grants.is_empty());
        assert!(!token.is_active());
    }
}
