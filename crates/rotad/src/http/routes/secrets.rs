//! Secrets: `/api/v3/secrets/raw` (read and write) and `/api/v4/secrets` (read), tolerant of
//! what real clients send (unknown query keys, JSON bodies on GET, `secretPath` omitted).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::extract::{Auth, Query, Validate};
use crate::services::secret_imports::ImportedSecrets;
use crate::services::secrets::{ReadOptions, Scope, Secret, HIDDEN_VALUE};
use crate::services::{AppState, Ctx};
use crate::store::TagRow;
use crate::time::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_v3))
        .routes(routes!(get_v3))
        .routes(routes!(list_v4))
        .routes(routes!(get_v4))
}

#[derive(Serialize, ToSchema)]
pub struct MetadataOut {
    key: String,
    value: String,
}

#[derive(Serialize, ToSchema)]
pub struct TagOut {
    id: String,
    slug: String,
    name: String,
    color: Option<String>,
}

impl From<TagRow> for TagOut {
    fn from(t: TagRow) -> Self {
        Self {
            id: t.id,
            slug: t.slug,
            name: t.name,
            color: t.color,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretOut {
    id: String,
    #[serde(rename = "_id")]
    legacy_id: String,
    workspace: String,
    environment: String,
    version: i64,
    #[serde(rename = "type")]
    secret_type: String,
    secret_key: String,
    secret_value: String,
    secret_value_hidden: bool,
    secret_comment: String,
    secret_path: String,
    skip_multiline_encoding: bool,
    secret_reminder_note: Option<String>,
    secret_reminder_repeat_days: Option<i64>,
    secret_metadata: Vec<MetadataOut>,
    tags: Vec<TagOut>,
    is_rotated_secret: bool,
    rotation_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl SecretOut {
    pub(crate) fn new(s: Secret, show_value: bool) -> Self {
        Self {
            legacy_id: s.id.clone(),
            id: s.id,
            workspace: s.project_id,
            environment: s.environment,
            version: s.version,
            secret_type: s.secret_type,
            secret_key: s.key,
            secret_value: if show_value {
                s.value
            } else {
                HIDDEN_VALUE.to_string()
            },
            secret_value_hidden: !show_value,
            secret_comment: s.comment,
            secret_path: s.secret_path,
            skip_multiline_encoding: s.skip_multiline,
            secret_reminder_note: None,
            secret_reminder_repeat_days: None,
            secret_metadata: Vec::new(),
            tags: s.tags.into_iter().map(TagOut::from).collect(),
            is_rotated_secret: s.rotation_id.is_some(),
            rotation_id: s.rotation_id,
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportOut {
    secret_path: String,
    environment: String,
    folder_id: String,
    secrets: Vec<SecretOut>,
}

impl ImportOut {
    fn new(i: ImportedSecrets, show_value: bool) -> Self {
        Self {
            secret_path: i.secret_path,
            environment: i.environment,
            folder_id: i.folder_id,
            secrets: i
                .secrets
                .into_iter()
                .map(|s| SecretOut::new(s, show_value))
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SecretsResponse {
    secrets: Vec<SecretOut>,
    /// What the folder's imports bring (with `include_imports=true`); always present.
    imports: Vec<ImportOut>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretResponse {
    pub(crate) secret: SecretOut,
}

/// Query of the read routes. `workspaceId` (v3) or `projectId` (v4) or a slug names the project.
#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    workspace_id: Option<String>,
    project_id: Option<String>,
    workspace_slug: Option<String>,
    project_slug: Option<String>,
    #[serde(default)]
    environment: String,
    secret_path: Option<String>,
    view_secret_value: Option<String>,
    recursive: Option<String>,
    #[serde(rename = "type")]
    secret_type: Option<String>,
    version: Option<String>,
    /// `true` expands `${…}` references in the values (docs/COMPATIBILITY.md).
    expand_secret_references: Option<String>,
    /// `true` answers imported secrets too (lists) or falls back to them (reads by name).
    #[serde(rename = "include_imports")]
    include_imports: Option<String>,
    /// The same as `include_imports` (the spelling some clients use).
    #[serde(rename = "includeImports")]
    include_imports_camel: Option<String>,
    /// Comma-separated tag slugs: only secrets carrying one of them.
    tag_slugs: Option<String>,
}

impl Validate for ReadQuery {
    fn validate(&self) -> Vec<crate::error::Issue> {
        let mut issues = Vec::new();
        if self.environment.trim().is_empty() {
            issues.push(crate::error::Issue::new(
                "too_small",
                &["environment"],
                "Environment required",
            ));
        }
        for (field, value) in [
            ("viewSecretValue", &self.view_secret_value),
            ("recursive", &self.recursive),
            ("expandSecretReferences", &self.expand_secret_references),
            ("include_imports", &self.include_imports),
            ("includeImports", &self.include_imports_camel),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v != "true" && v != "false")
            {
                issues.push(crate::error::Issue::new(
                    "invalid_enum_value",
                    &[field],
                    "Expected 'true' | 'false'",
                ));
            }
        }
        if self
            .version
            .as_deref()
            .is_some_and(|v| v.parse::<i64>().map_or(true, |n| n < 1))
        {
            issues.push(crate::error::Issue::new(
                "invalid_type",
                &["version"],
                "Expected a positive integer",
            ));
        }
        issues
    }
}

impl ReadQuery {
    async fn scope(&self, app: &AppState, ctx: &Ctx) -> Result<Scope> {
        let id = self.workspace_id.as_deref().or(self.project_id.as_deref());
        let slug = self
            .workspace_slug
            .as_deref()
            .or(self.project_slug.as_deref());
        Ok(Scope {
            project_id: app.project_ref(ctx, id, slug).await?,
            environment: self.environment.clone(),
            secret_path: self.secret_path.clone(),
        })
    }

    fn show_value(&self) -> bool {
        self.view_secret_value.as_deref() != Some("false")
    }

    fn options(&self) -> ReadOptions {
        let on = |v: &Option<String>| v.as_deref() == Some("true");
        ReadOptions {
            recursive: on(&self.recursive),
            // A hidden value is not expanded.
            expand_references: self.show_value() && on(&self.expand_secret_references),
            include_imports: on(&self.include_imports) || on(&self.include_imports_camel),
            tag_slugs: self
                .tag_slugs
                .as_deref()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

async fn list(app: AppState, ctx: Ctx, q: ReadQuery) -> Result<Json<SecretsResponse>> {
    let scope = q.scope(&app, &ctx).await?;
    let list = app.read_secrets(&ctx, &scope, &q.options()).await?;
    let show = q.show_value();
    Ok(Json(SecretsResponse {
        secrets: list
            .secrets
            .into_iter()
            .map(|s| SecretOut::new(s, show))
            .collect(),
        imports: list
            .imports
            .into_iter()
            .map(|i| ImportOut::new(i, show))
            .collect(),
    }))
}

async fn get(app: AppState, ctx: Ctx, name: String, q: ReadQuery) -> Result<Json<SecretResponse>> {
    let scope = q.scope(&app, &ctx).await?;
    let version = q.version.as_deref().and_then(|v| v.parse().ok());
    let secret = app
        .read_secret(
            &ctx,
            &scope,
            &name,
            q.secret_type.as_deref(),
            version,
            &q.options(),
        )
        .await?;
    Ok(Json(SecretResponse {
        secret: SecretOut::new(secret, q.show_value()),
    }))
}

/// Lists the secrets of a folder (`recursive=true` for the folders below it too).
#[utoipa::path(get, path = "/api/v3/secrets/raw", tag = "Secrets", params(ReadQuery),
    responses((status = 200, body = SecretsResponse)), security(("bearer" = [])))]
async fn list_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ReadQuery>,
) -> Result<Json<SecretsResponse>> {
    list(app, ctx, q).await
}

/// Lists the secrets of a folder (`recursive=true` for the folders below it too).
#[utoipa::path(get, path = "/api/v4/secrets", tag = "Secrets", params(ReadQuery),
    responses((status = 200, body = SecretsResponse)), security(("bearer" = [])))]
async fn list_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(q): Query<ReadQuery>,
) -> Result<Json<SecretsResponse>> {
    list(app, ctx, q).await
}

/// Gets a secret by name (`version` for a past value).
#[utoipa::path(get, path = "/api/v3/secrets/raw/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path), ReadQuery),
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn get_v3(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<SecretResponse>> {
    get(app, ctx, name, q).await
}

/// Gets a secret by name (`version` for a past value).
#[utoipa::path(get, path = "/api/v4/secrets/{secretName}", tag = "Secrets",
    params(("secretName" = String, Path), ReadQuery),
    responses((status = 200, body = SecretResponse)), security(("bearer" = [])))]
async fn get_v4(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(name): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<SecretResponse>> {
    get(app, ctx, name, q).await
}
