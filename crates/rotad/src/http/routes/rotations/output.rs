//! The rotation object exactly as the seed's 200 schema lists it, and nothing else.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::providers::{rotation_type, Credential, TYPES};
use crate::services::rotations::RotationView;
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct ConnectionRef {
    app: String,
    name: String,
    id: String,
}

#[derive(Serialize, ToSchema)]
pub struct EnvironmentRef {
    slug: String,
    name: String,
    id: String,
}

#[derive(Serialize, ToSchema)]
pub struct FolderRef {
    id: String,
    path: String,
}

#[derive(Serialize, ToSchema)]
pub struct RotateAtOut {
    hours: i64,
    minutes: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotationOut {
    id: String,
    name: String,
    description: Option<String>,
    is_auto_rotation_enabled: bool,
    active_index: i64,
    folder_id: String,
    connection_id: String,
    created_at: String,
    updated_at: String,
    rotation_interval: i64,
    rotation_status: String,
    last_rotation_attempted_at: String,
    last_rotated_at: String,
    last_rotation_job_id: Option<String>,
    next_rotation_at: Option<String>,
    is_last_rotation_manual: bool,
    connection: ConnectionRef,
    environment: EnvironmentRef,
    project_id: String,
    folder: FolderRef,
    rotate_at_utc: RotateAtOut,
    last_rotation_message: Option<String>,
    #[serde(rename = "type")]
    #[schema(example = "dbt-service-token")]
    kind: String,
    #[schema(value_type = Object)]
    parameters: Value,
    #[schema(value_type = Object)]
    secrets_mapping: Value,
}

impl From<RotationView> for SecretRotationOut {
    fn from(v: RotationView) -> Self {
        let r = v.row;
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            is_auto_rotation_enabled: r.is_auto_rotation_enabled,
            active_index: r.active_index,
            folder_id: r.folder_id.clone(),
            connection_id: r.connection_id.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            rotation_interval: r.rotation_interval,
            rotation_status: r.rotation_status,
            last_rotation_attempted_at: rfc3339(r.last_rotation_attempted_at),
            last_rotated_at: rfc3339(r.last_rotated_at),
            last_rotation_job_id: r.last_rotation_job_id,
            next_rotation_at: r.next_rotation_at.map(rfc3339),
            is_last_rotation_manual: r.is_last_rotation_manual,
            connection: ConnectionRef {
                app: rotation_type(&r.rotation_type)
                    .map(|t| t.app)
                    .unwrap_or("dbt")
                    .to_string(),
                name: v.connection_name,
                id: r.connection_id,
            },
            environment: EnvironmentRef {
                slug: v.environment.slug,
                name: v.environment.name,
                id: v.environment.id,
            },
            project_id: r.project_id,
            folder: FolderRef {
                id: r.folder_id,
                path: v.folder_path,
            },
            rotate_at_utc: RotateAtOut {
                hours: r.rotate_at_hours,
                minutes: r.rotate_at_minutes,
            },
            last_rotation_message: v.last_message,
            kind: r.rotation_type,
            parameters: v.parameters,
            secrets_mapping: v.secrets_mapping,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotationResponse {
    pub secret_rotation: SecretRotationOut,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotationsResponse {
    pub secret_rotations: Vec<SecretRotationOut>,
}

/// A slot's credential: a dbt token, or a database login.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CredentialOut {
    #[serde(rename_all = "camelCase")]
    Token {
        service_token: String,
        token_id: i64,
        token_name: String,
    },
    Login {
        username: String,
        password: String,
    },
}

impl From<Credential> for CredentialOut {
    fn from(c: Credential) -> Self {
        match c {
            Credential::Token(t) => CredentialOut::Token {
                service_token: t.service_token,
                token_id: t.token_id,
                token_name: t.token_name,
            },
            Credential::Login(l) => CredentialOut::Login {
                username: l.username,
                password: l.password,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedCredentialsResponse {
    pub generated_credentials: Vec<CredentialOut>,
    pub active_index: i64,
    pub rotation_id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptionTemplate {
    /// The type's `secretsMapping` fields with suggested secret names.
    #[schema(value_type = Object)]
    secrets_mapping: serde_json::Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct RotationOption {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    connection: String,
    template: OptionTemplate,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationOptionsResponse {
    secret_rotation_options: Vec<RotationOption>,
}

impl RotationOptionsResponse {
    /// Every type rotad offers.
    pub fn all() -> Self {
        Self {
            secret_rotation_options: TYPES
                .iter()
                .map(|t| RotationOption {
                    name: t.name.to_string(),
                    kind: t.slug.to_string(),
                    connection: t.app.to_string(),
                    template: OptionTemplate {
                        secrets_mapping: t
                            .mapping
                            .iter()
                            .map(|(f, k)| (f.to_string(), Value::String(k.to_string())))
                            .collect(),
                    },
                })
                .collect(),
        }
    }
}
