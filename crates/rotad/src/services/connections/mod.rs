//! App connections: how rotad reaches dbt Cloud for an organization or one of its projects.
//!
//! Credentials are checked against dbt (the account probe) before they are stored, sealed by
//! the organization's data key, and never leave the service: answers and audit entries carry
//! the instance URL and account id only. Organization admins manage connections; organization
//! members read and use them; a project's connections are also open to its members.

mod access;
mod model;
mod providers;
mod sql;
mod write;

use dbt_client::{ClientOptions, DbtClient, DbtError};
use serde_json::json;
use sha2::{Digest, Sha256};

use access::allowed_sets;
pub use access::{check_grants, ADMIN_PERMISSION_SETS};
pub use model::*;
pub use providers::ConnectionProviders;
pub use sql::{NewSqlConnection, SqlConnectionChange};
use write::NewFields;

use super::audit::Event;
use super::authz::Action;
use super::keyring::org_scope;
use super::{App, Ctx};
use crate::crypto::DataKey;
use crate::error::{Error, Result};
use crate::store::{AppConnectionRow, StoreError};

fn not_found(id: &str) -> Error {
    Error::not_found(format!("Could not find App Connection with ID {id}"))
}

fn name_taken(name: &str) -> Error {
    Error::bad_request(format!(
        "An App Connection with the name \"{name}\" already exists"
    ))
}

fn aad(id: &str) -> String {
    format!("{id}:credentials")
}

impl App {
    async fn org_key(&self, org_id: &str) -> Result<DataKey> {
        self.keys
            .key_for(self.store.as_ref(), &org_scope(org_id))
            .await
    }

    fn open_connection(&self, key: &DataKey, row: AppConnectionRow) -> Result<AppConnection> {
        let (credentials, sql) = if row.app == APP_DBT {
            (open_credentials(key, &row)?, None)
        } else {
            let c = sql::open_sql_credentials(key, &row)?;
            let empty = DbtCredentials {
                instance_url: String::new(),
                account_id: String::new(),
                api_token: String::new(),
            };
            (empty, Some(sql::view(&c)))
        };
        let credentials_hash = crate::crypto::hex(&Sha256::digest(&row.credentials));
        Ok(AppConnection {
            id: row.id,
            org_id: row.org_id,
            project_id: row.project_id,
            name: row.name,
            description: row.description,
            app: row.app,
            method: row.method,
            instance_url: credentials.instance_url,
            account_id: credentials.account_id,
            sql,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            allowed_permission_sets: allowed_sets(row.allowed_permission_sets.as_deref()),
            credentials_hash,
        })
    }

    pub(crate) async fn open_row(&self, row: AppConnectionRow) -> Result<AppConnection> {
        let key = self.org_key(&row.org_id).await?;
        self.open_connection(&key, row)
    }

    async fn open_rows(
        &self,
        org_id: &str,
        rows: Vec<AppConnectionRow>,
    ) -> Result<Vec<AppConnection>> {
        let key = self.org_key(org_id).await?;
        rows.into_iter()
            .map(|row| self.open_connection(&key, row))
            .collect()
    }

    /// The connection row, when it exists in the caller's organization.
    pub(super) async fn connection_row(&self, ctx: &Ctx, id: &str) -> Result<AppConnectionRow> {
        self.store
            .get_connection(id)
            .await?
            .filter(|c| c.org_id == ctx.actor.org_id)
            .ok_or_else(|| not_found(id))
    }

    fn client_options(&self) -> ClientOptions {
        client_options(&self.settings)
    }

    /// A client that proves or lists once, without retries (upstream's plain calls).
    async fn probe_client(&self, credentials: &DbtCredentials) -> Result<DbtClient, DbtError> {
        let options = ClientOptions {
            max_retries: 0,
            ..self.client_options()
        };
        DbtClient::connect(
            &credentials.instance_url,
            &credentials.account_id,
            &credentials.api_token,
            options,
        )
        .await
    }

    /// The account probe: the credentials reach the account, or a 400 saying why not.
    async fn validate_credentials(&self, credentials: &DbtCredentials) -> Result<()> {
        let context = "Failed to validate credentials";
        let client = self
            .probe_client(credentials)
            .await
            .map_err(|e| dbt_error(context, &e))?;
        client
            .get_account()
            .await
            .map_err(|e| dbt_error(context, &e))?;
        Ok(())
    }

    pub async fn create_connection(
        &self,
        ctx: &Ctx,
        input: NewConnection,
    ) -> Result<AppConnection> {
        let mut issues = method_issues(&input.method);
        issues.extend(credential_issues(&input.credentials));
        let fields = NewFields {
            name: &input.name,
            description: input.description.as_deref(),
            project_id: input.project_id.as_deref(),
        };
        let mut admitted = self
            .admit_connection(ctx, fields, issues, APP_DBT, METHOD_API_TOKEN)
            .await?;
        let credentials = input.credentials.trimmed();
        self.validate_credentials(&credentials).await?;
        admitted.row.credentials = seal_credentials(&admitted.key, &admitted.row.id, &credentials)?;
        admitted.row.allowed_permission_sets =
            self.stored_sets(ctx, input.allowed_permission_sets.as_deref())?;
        self.insert_connection(ctx, admitted).await
    }

    pub async fn update_connection(
        &self,
        ctx: &Ctx,
        id: &str,
        change: ConnectionChange,
    ) -> Result<AppConnection> {
        let issues = change
            .credentials
            .as_ref()
            .map(credential_issues)
            .unwrap_or_default();
        let mut updating = self
            .begin_update(ctx, id, change.name, change.description, issues, None)
            .await?;
        if let Some(sets) = &change.allowed_permission_sets {
            updating.next.allowed_permission_sets = self.stored_sets(ctx, sets.as_deref())?;
        }
        let credentials_updated = change.credentials.is_some();
        if let Some(credentials) = change.credentials {
            let credentials = credentials.trimmed();
            self.refuse_retarget(&updating.key, &updating.row, &credentials)
                .await?;
            self.validate_credentials(&credentials).await?;
            updating.next.credentials =
                seal_credentials(&updating.key, &updating.row.id, &credentials)?;
        }
        self.finish_update(ctx, updating, credentials_updated).await
    }

    /// Whether a rotation, a queued revocation or an issuance in flight stands on connection
    /// `id`. Revocations this process saw confirmed leave the queue first, so a connection
    /// whose last token was just revoked is free at once (docs/ARCHITECTURE.md, "Statement
    /// budget"); another replica's take at most 50 ms more.
    pub(crate) async fn connection_in_use(&self, id: &str) -> Result<bool> {
        self.engine.flush_confirmed_revocations().await;
        Ok(self.store.connection_in_use(id).await?)
    }

    /// Refuses moving a connection to another dbt instance or account while anything stands
    /// on it: its rotations' tokens, queued revocations and issuances in flight were minted at
    /// the old one, and dbt's 404 there would count as "revoked" while the real tokens live.
    async fn refuse_retarget(
        &self,
        key: &DataKey,
        row: &AppConnectionRow,
        next: &DbtCredentials,
    ) -> Result<()> {
        let old: DbtCredentials =
            serde_json::from_str(&key.open_str(&aad(&row.id), &row.credentials)?)
                .map_err(|e| Error::Unexpected(e.into()))?;
        let old = old.trimmed();
        if old.instance_url == next.instance_url && old.account_id == next.account_id {
            return Ok(());
        }
        if !self.connection_in_use(&row.id).await? {
            return Ok(());
        }
        let names: Vec<String> = self
            .store
            .list_rotations_by_connection(&row.id)
            .await?
            .into_iter()
            .map(|r| format!("\"{}\"", r.name))
            .collect();
        let standing = if names.is_empty() {
            "pending token revocations".to_string()
        } else {
            format!(
                "secret rotations {} (and any pending token revocations)",
                names.join(", ")
            )
        };
        Err(Error::bad_request(format!(
            "Cannot change the instanceUrl or accountId of App Connection \"{}\" while {standing} \
             use it: their tokens live at the current dbt account. Delete the rotations (with \
             revokeGeneratedCredentials) and let the revocations finish first, or create a new \
             connection",
            row.name
        )))
    }

    /// Connections of the organization, or of one project.
    pub async fn list_connections(
        &self,
        ctx: &Ctx,
        project_id: Option<&str>,
    ) -> Result<Vec<AppConnection>> {
        let project_id = project_id.map(str::trim).filter(|p| !p.is_empty());
        self.authorize_connections(ctx, project_id, Action::Read)
            .await?;
        let rows = self
            .store
            .list_connections(&ctx.actor.org_id, project_id)
            .await?;
        let connections = self.open_rows(&ctx.actor.org_id, rows).await?;
        self.audit(
            ctx,
            project_id,
            Event::new(
                "get-app-connections",
                json!({
                    "app": APP_DBT,
                    "count": connections.len(),
                    "connectionIds": connections.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
                }),
            ),
        )
        .await;
        Ok(connections)
    }

    pub async fn get_connection(&self, ctx: &Ctx, id: &str) -> Result<AppConnection> {
        let row = self.connection_row(ctx, id).await?;
        self.authorize_row(ctx, &row, Action::Read).await?;
        let connection = self.open_row(row).await?;
        self.audit_connection(ctx, "get-app-connection", &connection, json!({}))
            .await;
        Ok(connection)
    }

    pub async fn get_connection_by_name(
        &self,
        ctx: &Ctx,
        name: &str,
        project_id: Option<&str>,
    ) -> Result<AppConnection> {
        let name = name.trim();
        let project_id = project_id.map(str::trim).filter(|p| !p.is_empty());
        let row = self
            .store
            .get_connection_by_name(&ctx.actor.org_id, name)
            .await?
            .filter(|c| project_id.is_none() || c.project_id.as_deref() == project_id)
            .ok_or_else(|| {
                Error::not_found(format!("Could not find App Connection with name {name}"))
            })?;
        self.authorize_row(ctx, &row, Action::Read)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => {
                    Error::not_found(format!("Could not find App Connection with name {name}"))
                }
                other => other,
            })?;
        let connection = self.open_row(row).await?;
        self.audit_connection(ctx, "get-app-connection", &connection, json!({}))
            .await;
        Ok(connection)
    }

    /// Deletes a connection no rotation uses.
    pub async fn delete_connection(&self, ctx: &Ctx, id: &str) -> Result<AppConnection> {
        let row = self.connection_row(ctx, id).await?;
        self.authorize_row(ctx, &row, Action::Delete).await?;
        let in_use = || {
            Error::bad_request(
                "Cannot delete App Connection with existing connections. Remove all existing \
                 connections and try again.",
            )
        };
        if self.connection_in_use(&row.id).await? {
            return Err(in_use());
        }
        let connection = self.open_row(row).await?;
        match self.store.delete_connection(&connection.id).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found(id)),
            Err(StoreError::Conflict(_)) => return Err(in_use()),
            Err(e) => return Err(e.into()),
        }
        self.audit_connection(ctx, "delete-app-connection", &connection, json!({}))
            .await;
        Ok(connection)
    }

    /// The dbt projects the connection's account holds.
    pub async fn list_dbt_projects(&self, ctx: &Ctx, id: &str) -> Result<Vec<dbt_client::Project>> {
        let row = self.connection_row(ctx, id).await?;
        self.authorize_row(ctx, &row, Action::Read).await?;
        let key = self.org_key(&row.org_id).await?;
        let credentials = open_credentials(&key, &row)?;
        let context = "Failed to list projects";
        let client = self
            .probe_client(&credentials)
            .await
            .map_err(|e| dbt_error(context, &e))?;
        client
            .list_projects()
            .await
            .map_err(|e| dbt_error(context, &e))
    }

    async fn audit_connection(
        &self,
        ctx: &Ctx,
        kind: &'static str,
        connection: &AppConnection,
        extra: serde_json::Value,
    ) {
        let mut metadata = json!({
            "app": connection.app,
            "connectionId": connection.id,
            "name": connection.name,
            "method": connection.method,
        });
        if let (Some(m), Some(extra)) = (metadata.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        self.audit(
            ctx,
            connection.project_id.as_deref(),
            Event::new(kind, metadata),
        )
        .await;
    }
}

fn seal_credentials(key: &DataKey, id: &str, credentials: &DbtCredentials) -> Result<Vec<u8>> {
    let json = serde_json::to_string(credentials).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(key.seal_str(&aad(id), &json))
}

/// How the dbt client talks to dbt Cloud under these settings.
pub fn client_options(settings: &super::Settings) -> ClientOptions {
    let timeout = settings.dbt_request_timeout;
    ClientOptions {
        allow_internal: settings.allow_internal_ip_connections,
        request_timeout: timeout,
        connect_timeout: timeout.min(ClientOptions::default().connect_timeout),
        ..ClientOptions::default()
    }
}

pub(super) fn open_credentials(key: &DataKey, row: &AppConnectionRow) -> Result<DbtCredentials> {
    serde_json::from_str(&key.open_str(&aad(&row.id), &row.credentials)?)
        .map_err(|e| Error::Unexpected(e.into()))
}
