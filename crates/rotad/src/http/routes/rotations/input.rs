//! Request bodies of the rotation routes, checked as the seed's schema says: types, bounds,
//! required fields and `additionalProperties: false`.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::error::Issue;
use crate::http::extract::Validate;
use crate::providers::dbt::{DbtParameters, Grant, PERMISSION_SETS};
use crate::services::projects::is_slug;
use crate::services::rotations::SecretsMapping;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateAtIn {
    #[schema(minimum = 0, maximum = 23)]
    pub hours: f64,
    #[schema(minimum = 0, maximum = 59)]
    pub minutes: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantIn {
    /// One of dbt's permission sets.
    pub permission_set: String,
    pub project_id: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParametersIn {
    #[schema(min_length = 1, max_length = 255)]
    pub token_name: String,
    #[schema(min_items = 1, max_items = 50)]
    pub permission_grants: Vec<GrantIn>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsMappingIn {
    #[schema(min_length = 1, max_length = 500)]
    pub service_token: String,
}

/// `PATCH /api/v2/secret-rotations/dbt-service-token/{rotationId}`: the body is required, every
/// field optional, and only `description` may be `null` (the others are a 422 naming the field).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRotationIn {
    #[serde(default, deserialize_with = "not_null::name")]
    #[schema(min_length = 1, max_length = 64, nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 256)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null::is_auto_rotation_enabled")]
    #[schema(nullable = false)]
    pub is_auto_rotation_enabled: Option<bool>,
    #[serde(default, deserialize_with = "not_null::rotation_interval")]
    #[schema(minimum = 1, nullable = false)]
    pub rotation_interval: Option<f64>,
    #[serde(default, deserialize_with = "not_null::rotate_at_utc")]
    #[schema(nullable = false)]
    pub rotate_at_utc: Option<RotateAtIn>,
    #[serde(default, deserialize_with = "not_null::parameters")]
    #[schema(nullable = false)]
    pub parameters: Option<ParametersIn>,
    #[serde(default, deserialize_with = "not_null::secrets_mapping")]
    #[schema(nullable = false)]
    pub secrets_mapping: Option<SecretsMappingIn>,
}

/// `POST /api/v2/secret-rotations/dbt-service-token`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRotationIn {
    pub name: String,
    pub project_id: String,
    pub description: Option<String>,
    pub connection_id: String,
    pub environment: String,
    pub secret_path: String,
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval: f64,
    pub rotate_at_utc: Option<RotateAtIn>,
    pub parameters: ParametersIn,
    pub secrets_mapping: SecretsMappingIn,
}

/// Distinguishes `"description": null` (clear it) from an absent field.
pub(super) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Optional fields the seed does not mark `nullable`: absent is `None`, `null` an error whose
/// path (added by the body extractor) and message name the field.
mod not_null {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    use super::{ParametersIn, RotateAtIn, SecretsMappingIn};

    fn non_null<'de, D, T>(d: D, field: &str, expected: &str) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        match Option::<T>::deserialize(d)? {
            Some(value) => Ok(Some(value)),
            None => Err(D::Error::custom(format!(
                "{field} cannot be null: expected {expected}, received null"
            ))),
        }
    }

    macro_rules! fields {
        ($($fn:ident: $ty:ty => $field:literal, $expected:literal;)*) => {$(
            pub fn $fn<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
                non_null(d, $field, $expected)
            }
        )*};
    }

    fields! {
        name: String => "name", "string";
        is_auto_rotation_enabled: bool => "isAutoRotationEnabled", "boolean";
        rotation_interval: f64 => "rotationInterval", "number";
        rotate_at_utc: RotateAtIn => "rotateAtUtc", "object";
        parameters: ParametersIn => "parameters", "object";
        secrets_mapping: SecretsMappingIn => "secretsMapping", "object";
    }
}

/// Permission grants of one rotation's token.
const MAX_GRANTS: usize = 50;
/// The mapped secret's name, capped as secret names are (`services::secrets::check_key`).
pub(super) const MAX_SECRET_NAME: usize = 500;

pub(super) fn check_name(issues: &mut Vec<Issue>, name: &str) {
    let name = name.trim();
    if name.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &["name"],
            "name field must be at least 1 lowercase character",
        ));
    } else if name.len() > 64 {
        issues.push(Issue::new(
            "too_big",
            &["name"],
            "name field must be at most 64 lowercase characters",
        ));
    } else if !is_slug(name) {
        issues.push(Issue::new(
            "custom",
            &["name"],
            "name field can only contain lowercase letters, numbers, and hyphens",
        ));
    }
}

pub(super) fn check_description(issues: &mut Vec<Issue>, description: Option<&str>) {
    if description.is_some_and(|d| d.trim().chars().count() > 256) {
        issues.push(Issue::new(
            "too_big",
            &["description"],
            "Description cannot exceed 256 characters",
        ));
    }
}

pub(super) fn check_interval(issues: &mut Vec<Issue>, interval: f64) {
    if interval.fract() != 0.0 {
        issues.push(Issue::new(
            "invalid_type",
            &["rotationInterval"],
            "Expected integer, received float",
        ));
    } else if interval < 1.0 {
        issues.push(Issue::new(
            "too_small",
            &["rotationInterval"],
            "Number must be greater than or equal to 1",
        ));
    } else if interval > 1_000_000.0 {
        issues.push(Issue::new(
            "too_big",
            &["rotationInterval"],
            "Number must be less than or equal to 1000000",
        ));
    }
}

pub(super) fn check_rotate_at(issues: &mut Vec<Issue>, at: &RotateAtIn) {
    for (field, value, max) in [("hours", at.hours, 23.0), ("minutes", at.minutes, 59.0)] {
        if value.fract() != 0.0 {
            issues.push(Issue::new(
                "invalid_type",
                &["rotateAtUtc", field],
                "Expected integer, received float",
            ));
        } else if value < 0.0 {
            issues.push(Issue::new(
                "too_small",
                &["rotateAtUtc", field],
                "Number must be greater than or equal to 0",
            ));
        } else if value > max {
            issues.push(Issue::new(
                "too_big",
                &["rotateAtUtc", field],
                format!("Number must be less than or equal to {max}"),
            ));
        }
    }
}

fn check_parameters(issues: &mut Vec<Issue>, p: &ParametersIn) {
    let token = p.token_name.trim();
    if token.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &["parameters", "tokenName"],
            "Token name is required",
        ));
    } else if token.chars().count() > 255 {
        issues.push(Issue::new(
            "too_big",
            &["parameters", "tokenName"],
            "Token name must be less than 255 characters",
        ));
    }
    if p.permission_grants.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &["parameters", "permissionGrants"],
            "Array must contain at least 1 element(s)",
        ));
    } else if p.permission_grants.len() > MAX_GRANTS {
        issues.push(Issue::new(
            "too_big",
            &["parameters", "permissionGrants"],
            format!("Array must contain at most {MAX_GRANTS} element(s)"),
        ));
    }
    for (i, grant) in p.permission_grants.iter().enumerate() {
        let index = i.to_string();
        if !PERMISSION_SETS.contains(&grant.permission_set.as_str()) {
            issues.push(Issue::new(
                "invalid_enum_value",
                &["parameters", "permissionGrants", &index, "permissionSet"],
                format!(
                    "Invalid enum value. Expected one of {}",
                    PERMISSION_SETS.join(" | ")
                ),
            ));
        }
        if grant
            .project_id
            .is_some_and(|p| p.fract() != 0.0 || p < 0.0)
        {
            issues.push(Issue::new(
                "invalid_type",
                &["parameters", "permissionGrants", &index, "projectId"],
                "Expected a dbt project id",
            ));
        }
    }
}

fn check_mapping(issues: &mut Vec<Issue>, m: &SecretsMappingIn) {
    let key = m.service_token.trim();
    if key.is_empty() {
        issues.push(Issue::new(
            "too_small",
            &["secretsMapping", "serviceToken"],
            "String must contain at least 1 character(s)",
        ));
    } else if key.len() > MAX_SECRET_NAME {
        issues.push(Issue::new(
            "too_big",
            &["secretsMapping", "serviceToken"],
            format!("Secret name must be at most {MAX_SECRET_NAME} characters"),
        ));
    } else if key.contains(':') || key.contains('/') {
        issues.push(Issue::new(
            "custom",
            &["secretsMapping", "serviceToken"],
            "Secret name cannot contain colon or forward slash.",
        ));
    }
}

impl Validate for UpdateRotationIn {
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
        if let Some(p) = &self.parameters {
            check_parameters(&mut issues, p);
        }
        if let Some(m) = &self.secrets_mapping {
            check_mapping(&mut issues, m);
        }
        issues
    }
}

impl Validate for CreateRotationIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        check_name(&mut issues, &self.name);
        check_description(&mut issues, self.description.as_deref());
        check_interval(&mut issues, self.rotation_interval);
        if let Some(at) = &self.rotate_at_utc {
            check_rotate_at(&mut issues, at);
        }
        check_parameters(&mut issues, &self.parameters);
        check_mapping(&mut issues, &self.secrets_mapping);
        if self.project_id.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["projectId"],
                "Project ID required",
            ));
        }
        if uuid::Uuid::parse_str(self.connection_id.trim()).is_err() {
            issues.push(Issue::new(
                "invalid_string",
                &["connectionId"],
                "Invalid uuid",
            ));
        }
        if self.environment.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["environment"],
                "Environment required",
            ));
        }
        if self.secret_path.trim().is_empty() {
            issues.push(Issue::new(
                "too_small",
                &["secretPath"],
                "Secret path required",
            ));
        }
        issues
    }
}

impl ParametersIn {
    pub fn into_domain(self) -> DbtParameters {
        DbtParameters {
            token_name: self.token_name.trim().to_string(),
            permission_grants: self
                .permission_grants
                .into_iter()
                .map(|g| Grant {
                    permission_set: g.permission_set,
                    project_id: g.project_id,
                })
                .collect(),
        }
    }
}

impl SecretsMappingIn {
    pub fn into_domain(self) -> SecretsMapping {
        SecretsMapping {
            service_token: self.service_token.trim().to_string(),
        }
    }
}

impl RotateAtIn {
    pub fn pair(&self) -> (i64, i64) {
        (self.hours as i64, self.minutes as i64)
    }
}
