//! Request bodies of the database credentials rotation types (`mysql-credentials`):
//! `parameters {username1, username2}`, `secretsMapping {username, password}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{
    check_description, check_interval, check_name, check_rotate_at, present, RotateAtIn,
    MAX_SECRET_NAME,
};
use crate::error::Issue;
use crate::http::extract::Validate;
use crate::providers::sql::{username_issue, SqlParameters};

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlParametersIn {
    /// The first of the two users the DBA created.
    pub username1: String,
    /// The second user; the two alternate.
    pub username2: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlMappingIn {
    /// The secret the active username is published to.
    pub username: String,
    /// The secret the active password is published to.
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSqlRotationIn {
    pub name: String,
    pub project_id: String,
    pub description: Option<String>,
    pub connection_id: String,
    pub environment: String,
    pub secret_path: String,
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval: f64,
    pub rotate_at_utc: Option<RotateAtIn>,
    pub parameters: SqlParametersIn,
    pub secrets_mapping: SqlMappingIn,
}

/// A PATCH of a database rotation: its settings. The users and the secret names are kept for
/// the rotation's life (delete and create it again to change them).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSqlRotationIn {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<Option<String>>,
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval: Option<f64>,
    pub rotate_at_utc: Option<RotateAtIn>,
}

fn check_users(issues: &mut Vec<Issue>, p: &SqlParametersIn) {
    for (field, value) in [("username1", &p.username1), ("username2", &p.username2)] {
        if let Some(message) = username_issue(value) {
            issues.push(Issue::new("custom", &["parameters", field], message));
        }
    }
    if p.username1.trim() == p.username2.trim() && !p.username1.trim().is_empty() {
        issues.push(Issue::new(
            "custom",
            &["parameters", "username2"],
            "The two users must differ",
        ));
    }
}

fn check_mapping(issues: &mut Vec<Issue>, m: &SqlMappingIn) {
    for (field, key) in [("username", &m.username), ("password", &m.password)] {
        let key = key.trim();
        if key.is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["secretsMapping", field],
                "String must contain at least 1 character(s)",
            ));
        } else if key.len() > MAX_SECRET_NAME {
            issues.push(Issue::new(
                "too_big",
                &["secretsMapping", field],
                format!("Secret name must be at most {MAX_SECRET_NAME} characters"),
            ));
        } else if key.contains(':') || key.contains('/') {
            issues.push(Issue::new(
                "custom",
                &["secretsMapping", field],
                "Secret name cannot contain colon or forward slash.",
            ));
        }
    }
}

impl Validate for CreateSqlRotationIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        check_name(&mut issues, &self.name);
        check_description(&mut issues, self.description.as_deref());
        check_interval(&mut issues, self.rotation_interval);
        if let Some(at) = &self.rotate_at_utc {
            check_rotate_at(&mut issues, at);
        }
        check_users(&mut issues, &self.parameters);
        check_mapping(&mut issues, &self.secrets_mapping);
        for (field, value, message) in [
            ("projectId", &self.project_id, "Project ID required"),
            ("environment", &self.environment, "Environment required"),
            ("secretPath", &self.secret_path, "Secret path required"),
        ] {
            if value.trim().is_empty() {
                issues.push(Issue::new("too_small", &[field], message));
            }
        }
        if uuid::Uuid::parse_str(self.connection_id.trim()).is_err() {
            issues.push(Issue::new(
                "invalid_string",
                &["connectionId"],
                "Invalid uuid",
            ));
        }
        issues
    }
}

impl Validate for UpdateSqlRotationIn {
    const BODY_REQUIRED: bool = true;

    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(name) = &self.name {
            check_name(&mut issues, name);
        }
        if let Some(d) = &self.description {
            check_description(&mut issues, d.as_deref());
        }
        if let Some(i) = self.rotation_interval {
            check_interval(&mut issues, i);
        }
        if let Some(at) = &self.rotate_at_utc {
            check_rotate_at(&mut issues, at);
        }
        issues
    }
}

impl SqlParametersIn {
    pub fn into_domain(self) -> SqlParameters {
        SqlParameters {
            username1: self.username1.trim().to_string(),
            username2: self.username2.trim().to_string(),
        }
    }
}

impl SqlMappingIn {
    /// Secret names by field, in the type's order.
    pub fn into_domain(self) -> Vec<(String, String)> {
        vec![
            ("username".to_string(), self.username.trim().to_string()),
            ("password".to_string(), self.password.trim().to_string()),
        ]
    }
}
