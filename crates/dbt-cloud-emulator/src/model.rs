//! The emulated dbt Cloud objects and their JSON shapes.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::distributions::{Alphanumeric, Distribution, Uniform};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Every `permission_set` value dbt Cloud accepts (its `PermissionSetEnum`).
pub const PERMISSION_SETS: [&str; 31] = [
    "account_admin",
    "account_viewer",
    "admin",
    "analyst",
    "analyst_read",
    "billing_admin",
    "cost_insights_admin",
    "cost_insights_viewer",
    "cost_management_admin",
    "cost_management_viewer",
    "database_admin",
    "developer",
    "fusion_admin",
    "git_admin",
    "job_admin",
    "job_creator",
    "job_runner",
    "job_viewer",
    "manage_marketplace_apps",
    "member",
    "metadata_only",
    "notification_manager",
    "owner",
    "project_creator",
    "readonly",
    "scim_only",
    "security_admin",
    "semantic_layer_only",
    "stakeholder",
    "team_admin",
    "webhooks_only",
];

/// Token state: active.
pub const STATE_ACTIVE: i32 = 1;
/// Token state: (soft) deleted.
pub const STATE_DELETED: i32 = 2;

/// One permission grant of a service token. `project_id: None` covers all projects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub permission_set: String,
    #[serde(default)]
    pub project_id: Option<i64>,
}

impl Grant {
    /// A grant over all projects.
    pub fn account(permission_set: &str) -> Self {
        Self {
            permission_set: permission_set.to_owned(),
            project_id: None,
        }
    }

    /// A grant over one project.
    pub fn project(permission_set: &str, project_id: i64) -> Self {
        Self {
            permission_set: permission_set.to_owned(),
            project_id: Some(project_id),
        }
    }
}

/// A service token as the test harness sees it, secret included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub uid: String,
    pub state: i32,
    pub grants: Vec<Grant>,
    /// The full secret (`dbtc_<uid><secret>`). For tests only.
    pub token_string: String,
    pub created_at: DateTime<Utc>,
}

impl TokenInfo {
    pub fn is_live(&self) -> bool {
        self.state == STATE_ACTIVE
    }
}

/// A stored grant, with the fields dbt echoes.
#[derive(Debug, Clone)]
pub(crate) struct StoredGrant {
    pub grant: Grant,
    pub writable_environment_categories: Vec<String>,
    pub permission_row_id: i64,
}

/// A stored service token.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub uid: String,
    pub secret: String,
    pub token_string: String,
    pub state: i32,
    pub grants: Vec<StoredGrant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

impl Token {
    pub fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id,
            name: self.name.clone(),
            uid: self.uid.clone(),
            state: self.state,
            grants: self.grants.iter().map(|g| g.grant.clone()).collect(),
            token_string: self.token_string.clone(),
            created_at: self.created_at,
        }
    }

    pub fn has_any_grant(&self, sets: &[&str]) -> bool {
        self.grants
            .iter()
            .any(|g| sets.contains(&g.grant.permission_set.as_str()))
    }

    fn grants_json(&self) -> Value {
        self.grants
            .iter()
            .map(|g| {
                json!({
                    "permission_set": g.grant.permission_set,
                    "project_id": g.grant.project_id,
                    "writable_environment_categories": g.writable_environment_categories,
                })
            })
            .collect()
    }

    /// The `/permissions/` rows materialised from the grants.
    pub fn permission_rows(&self) -> Vec<Value> {
        self.grants
            .iter()
            .map(|g| {
                json!({
                    "id": g.permission_row_id,
                    "account_id": self.account_id,
                    "service_token_id": self.id,
                    "project_id": g.grant.project_id,
                    "all_projects": g.grant.project_id.is_none(),
                    "permission_set": g.grant.permission_set,
                    "state": self.state,
                    "writable_environment_categories": g.writable_environment_categories,
                    "created_at": v3_time(self.created_at),
                    "updated_at": v3_time(self.created_at),
                })
            })
            .collect()
    }

    /// The object returned by GET and list: the secret is never included.
    pub fn public_json(&self) -> Value {
        json!({
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "uid": self.uid,
            "state": self.state,
            "token": null,
            "token_string": null,
            "created_at": v3_time(self.created_at),
            "updated_at": v3_time(self.updated_at),
            "last_used": self.last_used.map(v3_time),
            "expires_at": null,
            "metadata_only": false,
            "webhooks_only": false,
            "semantic_layer_credentials": null,
            "permission_grants": self.grants_json(),
        })
    }

    /// The object returned once, by create: secret and materialised permissions included.
    pub fn created_json(&self) -> Value {
        let mut value = self.public_json();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("token".into(), Value::from(self.secret.clone()));
            obj.insert(
                "token_string".into(),
                Value::from(self.token_string.clone()),
            );
            obj.insert("last_identify".into(), Value::Null);
            obj.insert("user_id".into(), Value::Null);
            obj.insert("user".into(), Value::Null);
            obj.insert("type".into(), Value::Null);
            obj.insert(
                "service_token_permissions".into(),
                Value::from(self.permission_rows()),
            );
        }
        value
    }
}

/// A seeded dbt Cloud project.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Project {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "description": self.description,
            "state": STATE_ACTIVE,
            "dbt_project_subdirectory": null,
            "connection_id": null,
            "repository_id": null,
            "created_at": v3_time(self.created_at),
            "updated_at": v3_time(self.created_at),
        })
    }
}

/// The emulated account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// The v2 account object (ISO `T` timestamps).
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "state": STATE_ACTIVE,
            "plan": "enterprise",
            "locked": false,
            "lock_reason": null,
            "pending_cancel": false,
            "unlocked_at": null,
            "identifier": format!("act_emulated{:08}", self.id),
            "static_subdomain": format!("em{}", self.id),
            "vanity_subdomain": null,
            "run_slots": 5,
            "developer_seats": 10,
            "read_only_seats": 10,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.created_at),
        })
    }
}

/// A v3 timestamp: `2025-10-06 05:55:54.587854+00:00`.
pub(crate) fn v3_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// A v2 (ISO) timestamp: `2025-10-06T05:55:54.587854+00:00`.
pub(crate) fn iso_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// A fresh 7-character public uid.
pub(crate) fn new_uid() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(7)
        .map(char::from)
        .collect()
}

/// A fresh 43-character base64url secret (32 random bytes' worth).
pub(crate) fn new_secret() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let pick = Uniform::new(0, ALPHABET.len());
    let mut rng = rand::thread_rng();
    (0..43)
        .map(|_| char::from(ALPHABET[pick.sample(&mut rng)]))
        .collect()
}

/// A fresh `dbtc_` token string with its uid and secret parts.
pub(crate) fn new_token_string() -> (String, String, String) {
    let uid = new_uid();
    let secret = new_secret();
    let token_string = format!("dbtc_{uid}{secret}");
    (uid, secret, token_string)
}

/// Splits a caller-supplied token string into uid and secret, inventing a uid
/// when it does not have the `dbtc_` shape.
pub(crate) fn split_token_string(token_string: &str) -> (String, String) {
    match token_string.strip_prefix("dbtc_") {
        Some(rest) if rest.len() > 7 && rest.is_char_boundary(7) => {
            (rest[..7].to_owned(), rest[7..].to_owned())
        }
        _ => (new_uid(), token_string.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn token_strings_have_the_dbt_shape() {
        let (uid, secret, token_string) = new_token_string();
        assert_eq!(uid.len(), 7);
        assert!(uid.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(secret.len(), 43);
        assert!(secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(token_string, format!("dbtc_{uid}{secret}"));
        assert_eq!(token_string.len(), 55);
        assert_eq!(split_token_string(&token_string), (uid, secret));
    }

    #[test]
    fn timestamps_use_both_dbt_formats() {
        let at = Utc
            .with_ymd_and_hms(2025, 10, 6, 5, 55, 54)
            .single()
            .expect("valid time")
            + chrono::Duration::microseconds(587_854);
        assert_eq!(v3_time(at), "2025-10-06 05:55:54.587854+00:00");
        assert_eq!(iso_time(at), "2025-10-06T05:55:54.587854+00:00");
    }

    #[test]
    fn the_permission_set_list_is_sorted_and_unique() {
        let mut sorted = PERMISSION_SETS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, PERMISSION_SETS.to_vec());
    }
}
