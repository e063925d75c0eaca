//! The secret types the services hand out, with `Debug` that never shows a value, and the
//! checks of names and types.

use crate::error::{Error, Result};
use crate::store::TagRow;

/// Which folder a call addresses.
#[derive(Debug, Clone)]
pub struct Scope {
    pub project_id: String,
    pub environment: String,
    pub secret_path: Option<String>,
}

/// A secret in clear text, as the API shows it. `Debug` redacts the value.
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    pub project_id: String,
    pub environment: String,
    pub secret_path: String,
    pub key: String,
    pub value: String,
    pub comment: String,
    pub version: i64,
    pub secret_type: String,
    pub skip_multiline: bool,
    pub rotation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The ids the row lists (a deleted tag's id may linger there).
    pub tag_ids: Vec<String>,
    /// The project's tags among `tag_ids`, filled by `App::attach_tags`.
    pub tags: Vec<TagRow>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("environment", &self.environment)
            .field("secret_path", &self.secret_path)
            .field("key", &self.key)
            .field("value", &format_args!("[redacted]"))
            .field("comment", &self.comment)
            .field("version", &self.version)
            .field("secret_type", &self.secret_type)
            .field("skip_multiline", &self.skip_multiline)
            .field("rotation_id", &self.rotation_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("tag_ids", &self.tag_ids)
            .finish()
    }
}

/// A secret to create. `Debug` redacts the value.
#[derive(Clone, Default)]
pub struct NewSecret<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub comment: Option<&'a str>,
    pub skip_multiline: bool,
    pub secret_type: Option<&'a str>,
    /// Ids of the project's tags to attach.
    pub tag_ids: Option<&'a [String]>,
}

impl std::fmt::Debug for NewSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("key", &self.key)
            .field("value", &format_args!("[redacted]"))
            .field("comment", &self.comment)
            .field("skip_multiline", &self.skip_multiline)
            .field("secret_type", &self.secret_type)
            .field("tag_ids", &self.tag_ids)
            .finish()
    }
}

/// A change to a secret. `Debug` redacts the new value.
#[derive(Clone, Default)]
pub struct SecretChange {
    pub value: Option<String>,
    pub new_key: Option<String>,
    pub comment: Option<String>,
    pub skip_multiline: Option<bool>,
    /// Replaces the secret's tags.
    pub tag_ids: Option<Vec<String>>,
}

impl std::fmt::Debug for SecretChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretChange")
            .field(
                "value",
                &self.value.as_ref().map(|_| format_args!("[redacted]")),
            )
            .field("new_key", &self.new_key)
            .field("comment", &self.comment)
            .field("skip_multiline", &self.skip_multiline)
            .field("tag_ids", &self.tag_ids)
            .finish()
    }
}

pub const HIDDEN_VALUE: &str = "<hidden-by-infisical>";

/// Checks a secret name: trimmed, non-empty, no colon or slash.
pub fn check_key(field: &str, key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::invalid(&[field], "Secret name is required"));
    }
    if key.len() > 500 {
        return Err(Error::invalid(
            &[field],
            "Secret name must be at most 500 characters",
        ));
    }
    if key.contains(':') || key.contains('/') {
        return Err(Error::invalid(
            &[field],
            "Secret name cannot contain colon or forward slash.",
        ));
    }
    Ok(key.to_string())
}

pub(crate) fn check_type(secret_type: Option<&str>) -> Result<&'static str> {
    match secret_type.unwrap_or("shared") {
        "shared" => Ok("shared"),
        "personal" => Err(Error::bad_request(
            "Personal secrets are not supported for machine identities",
        )),
        _ => Err(Error::invalid(
            &["type"],
            "Invalid enum value. Expected 'shared' | 'personal'",
        )),
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::{NewSecret, Secret, SecretChange};

    #[test]
    fn debug_redacts_secret_values() {
        let secret = Secret {
            id: "s-1".to_string(),
            project_id: "p-1".to_string(),
            environment: "dev".to_string(),
            secret_path: "/".to_string(),
            key: "DB_PASSWORD".to_string(),
            value: "KnownSecretValue".to_string(),
            comment: String::new(),
            version: 1,
            secret_type: "shared".to_string(),
            skip_multiline: false,
            rotation_id: None,
            created_at: 0,
            updated_at: 0,
            tag_ids: Vec::new(),
            tags: Vec::new(),
        };
        let new = NewSecret {
            key: "DB_PASSWORD",
            value: "KnownSecretValue",
            ..NewSecret::default()
        };
        let change = SecretChange {
            value: Some("KnownSecretValue".to_string()),
            ..SecretChange::default()
        };
        for shown in [
            format!("{secret:?}"),
            format!("{new:?}"),
            format!("{change:?}"),
        ] {
            assert!(!shown.contains("KnownSecret"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        assert!(format!("{secret:?}").contains("DB_PASSWORD"));
    }
}
