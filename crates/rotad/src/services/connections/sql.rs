//! Database connections (`mysql`, `postgres`): created and updated only once the login works (a
//! connection and a no-op query), the password sealed like dbt's token and never shown. Reads
//! and deletes are the app-agnostic ones of `mod.rs`.

use super::model::{app_name, SqlConnectionView, METHOD_USERNAME_PASSWORD};
use super::write::NewFields;
use super::{aad, AppConnection, APP_MYSQL, APP_POSTGRES};
use crate::crypto::DataKey;
use crate::error::{Error, Issue, Result};
use crate::providers::mysql::MySqlProvider;
use crate::providers::postgres::PgProvider;
use crate::providers::sql::{reach, SqlConnection};
use crate::services::authz::Action;
use crate::services::{App, Ctx};
use crate::store::AppConnectionRow;

#[derive(Debug, Clone)]
pub struct NewSqlConnection {
    pub name: String,
    pub description: Option<String>,
    pub project_id: Option<String>,
    pub method: String,
    pub credentials: SqlConnection,
}

/// A PATCH: absent fields stay as they are; credentials are replaced whole.
#[derive(Debug, Clone, Default)]
pub struct SqlConnectionChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub credentials: Option<SqlConnection>,
}

/// The credentials without the password.
pub(super) fn view(c: &SqlConnection) -> SqlConnectionView {
    SqlConnectionView {
        host: c.host.clone(),
        port: c.port,
        database: c.database.clone(),
        username: c.username.clone(),
        ssl_enabled: c.ssl_enabled,
        ssl_reject_unauthorized: c.ssl_reject_unauthorized,
        ssl_certificate: c.ssl_certificate.clone(),
    }
}

fn trimmed(c: SqlConnection) -> SqlConnection {
    SqlConnection {
        host: c.host.trim().to_string(),
        database: c.database.trim().to_string(),
        username: c.username.trim().to_string(),
        ..c
    }
}

/// Upstream's rules for SQL connection credentials.
pub fn sql_credential_issues(c: &SqlConnection) -> Vec<Issue> {
    let mut issues = Vec::new();
    for (field, value, label) in [
        ("host", &c.host, "Host required"),
        ("username", &c.username, "Username required"),
        ("password", &c.password, "Password required"),
    ] {
        if value.trim().is_empty() {
            issues.push(Issue::new("too_small", &["credentials", field], label));
        } else if value.chars().count() > 255 {
            issues.push(Issue::new(
                "too_big",
                &["credentials", field],
                "String must contain at most 255 character(s)",
            ));
        }
    }
    if c.port == 0 {
        issues.push(Issue::new(
            "too_small",
            &["credentials", "port"],
            "Number must be greater than 0",
        ));
    }
    issues
}

fn method_issues(method: &str) -> Vec<Issue> {
    if method == METHOD_USERNAME_PASSWORD {
        Vec::new()
    } else {
        vec![Issue::new(
            "invalid_union_discriminator",
            &["method"],
            "Invalid discriminator value. Expected 'username-and-password'",
        )]
    }
}

/// A SQL connection's credentials, opened.
pub(super) fn open_sql_credentials(key: &DataKey, row: &AppConnectionRow) -> Result<SqlConnection> {
    serde_json::from_str(&key.open_str(&aad(&row.id), &row.credentials)?)
        .map_err(|e| Error::Unexpected(e.into()))
}

fn seal(key: &DataKey, id: &str, c: &SqlConnection) -> Result<Vec<u8>> {
    let json = serde_json::to_string(c).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(key.seal_str(&aad(id), &json))
}

impl App {
    /// Connects with the credentials and runs a no-op query: `Ok`, or 400 with the reason.
    async fn probe_sql(&self, app: &str, c: &SqlConnection) -> Result<()> {
        let timeout = self.settings.dbt_request_timeout;
        let reach = reach(c, self.settings.allow_internal_ip_connections, timeout)
            .await
            .map_err(|e| Error::bad_request(e.message))?;
        let outcome = match app {
            APP_MYSQL => MySqlProvider::new(c.clone(), reach, None).check().await,
            APP_POSTGRES => PgProvider::new(c.clone(), reach, None).check().await,
            other => {
                return Err(Error::bad_request(format!(
                    "Unknown app connection type \"{other}\""
                )))
            }
        };
        outcome.map_err(|e| {
            Error::bad_request(format!("Failed to validate credentials: {}", e.message))
        })
    }

    pub async fn create_sql_connection(
        &self,
        ctx: &Ctx,
        app: &'static str,
        input: NewSqlConnection,
    ) -> Result<AppConnection> {
        let mut issues = method_issues(&input.method);
        issues.extend(sql_credential_issues(&input.credentials));
        let fields = NewFields {
            name: &input.name,
            description: input.description.as_deref(),
            project_id: input.project_id.as_deref(),
        };
        let mut admitted = self
            .admit_connection(ctx, fields, issues, app, METHOD_USERNAME_PASSWORD)
            .await?;
        let credentials = trimmed(input.credentials);
        self.probe_sql(app, &credentials).await?;
        admitted.row.credentials = seal(&admitted.key, &admitted.row.id, &credentials)?;
        self.insert_connection(ctx, admitted).await
    }

    /// A connection of `app` in the caller's organization (404 otherwise).
    pub async fn sql_connection_row(
        &self,
        ctx: &Ctx,
        app: &str,
        id: &str,
    ) -> Result<AppConnectionRow> {
        let row = self.connection_row(ctx, id).await?;
        if row.app != app {
            return Err(super::not_found(id));
        }
        Ok(row)
    }

    pub async fn update_sql_connection(
        &self,
        ctx: &Ctx,
        app: &'static str,
        id: &str,
        change: SqlConnectionChange,
    ) -> Result<AppConnection> {
        let issues = change
            .credentials
            .as_ref()
            .map(sql_credential_issues)
            .unwrap_or_default();
        let mut updating = self
            .begin_update(ctx, id, change.name, change.description, issues, Some(app))
            .await?;
        let credentials_updated = change.credentials.is_some();
        if let Some(credentials) = change.credentials {
            let credentials = trimmed(credentials);
            let (row, key) = (&updating.row, &updating.key);
            let old = open_sql_credentials(key, row)?;
            // The users' passwords live at the server the connection points at: it cannot
            // move while anything stands on it.
            if (old.host != credentials.host || old.port != credentials.port)
                && self.connection_in_use(&row.id).await?
            {
                return Err(Error::bad_request(format!(
                    "Cannot change the host or port of {} Connection \"{}\" while secret \
                     rotations or pending revocations use it",
                    app_name(app),
                    row.name
                )));
            }
            self.probe_sql(app, &credentials).await?;
            updating.next.credentials = seal(key, &row.id, &credentials)?;
        }
        self.finish_update(ctx, updating, credentials_updated).await
    }

    /// `check`: connects with the stored credentials and runs a no-op query.
    pub async fn check_sql_connection(&self, ctx: &Ctx, app: &str, id: &str) -> Result<()> {
        let row = self.sql_connection_row(ctx, app, id).await?;
        self.authorize_row(ctx, &row, Action::Read).await?;
        let key = self.org_key(&row.org_id).await?;
        let credentials = open_sql_credentials(&key, &row)?;
        self.probe_sql(app, &credentials).await
    }
}
