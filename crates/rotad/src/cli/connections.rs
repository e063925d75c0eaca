//! `rotad connections list|get|create|update|delete`: dbt Cloud app connections.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::folders::urlencode;
use super::output::{fields, print_json, table, text, when};
use super::secrets::read_stdin_value;
use super::{Client, Conn, Failure, Res};

const BASE: &str = "/api/v1/app-connections/dbt";

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: ConnectionsCommand,
}

/// The account-admin service token rotad uses to issue and revoke tokens. `Debug` redacts it.
#[derive(Args)]
struct ApiToken {
    /// dbt Cloud API token; `-` reads it from stdin, or set ROTAD_DBT_API_TOKEN (keeps it out of
    /// shell history).
    #[arg(
        long,
        env = "ROTAD_DBT_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    api_token: Option<String>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field(
                "api_token",
                &self.api_token.as_ref().map(|_| format_args!("[redacted]")),
            )
            .finish()
    }
}

impl ApiToken {
    fn value(&self) -> Res<Option<String>> {
        match self.api_token.as_deref() {
            None => Ok(None),
            Some("-") => read_stdin_value().map(|v| Some(v.trim().to_string())),
            Some(t) => Ok(Some(t.trim().to_string())),
        }
    }
}

#[derive(Debug, Subcommand)]
enum ConnectionsCommand {
    /// List the dbt connections (the organization's, and a project's with --project).
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Show a connection by id or name.
    Get {
        connection: String,
        /// Project of a project connection looked up by name.
        #[arg(long)]
        project: Option<String>,
    },
    /// Create a dbt connection; the credentials are checked against dbt Cloud first.
    Create {
        #[arg(long)]
        name: String,
        /// e.g. https://cloud.getdbt.com or https://ACCOUNT_PREFIX.us1.dbt.com
        #[arg(long, value_name = "URL")]
        instance_url: String,
        #[arg(long)]
        account_id: String,
        #[command(flatten)]
        token: ApiToken,
        #[arg(long)]
        description: Option<String>,
        /// Make it a project's connection instead of the organization's.
        #[arg(long)]
        project: Option<String>,
    },
    /// Rename, describe, or replace the credentials of a connection.
    Update {
        connection: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_name = "URL")]
        instance_url: Option<String>,
        #[arg(long)]
        account_id: Option<String>,
        #[command(flatten)]
        token: ApiToken,
    },
    /// Delete a connection (refused while rotations use it).
    Delete { connection: String },
}

pub async fn run(args: ConnectionsArgs) -> Res<()> {
    let client = Client::connect(&args.conn).await?;
    let json = args.conn.json;
    let answer = match args.command {
        ConnectionsCommand::List { project } => {
            let project = match project {
                Some(p) => Some(client.project_id(&p).await?),
                None => None,
            };
            let query: Vec<(&str, &str)> = project
                .as_deref()
                .map(|p| vec![("projectId", p)])
                .unwrap_or_default();
            let answer = client.get(BASE, &query).await?;
            if !json {
                let rows: Vec<Vec<String>> = answer["appConnections"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        vec![
                            text(&c["id"]),
                            text(&c["name"]),
                            text(&c["credentials"]["instanceUrl"]),
                            text(&c["credentials"]["accountId"]),
                            when(&c["createdAt"]),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "NAME", "INSTANCE", "ACCOUNT", "CREATED"],
                    &rows,
                    "No dbt connections.",
                );
            }
            answer
        }
        ConnectionsCommand::Get {
            connection,
            project,
        } => {
            let answer = get(&client, &connection, project.as_deref()).await?;
            if !json {
                show(&answer["appConnection"]);
            }
            answer
        }
        ConnectionsCommand::Create {
            name,
            instance_url,
            account_id,
            token,
            description,
            project,
        } => {
            let api_token = token.value()?.filter(|t| !t.is_empty()).ok_or_else(|| {
                Failure::usage(
                    "the dbt API token is required: --api-token -, stdin, or ROTAD_DBT_API_TOKEN",
                )
            })?;
            let mut body = json!({
                "name": name,
                "method": "api-token",
                "credentials": {"instanceUrl": instance_url, "accountId": account_id, "apiToken": api_token},
            });
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(p) = project {
                body["projectId"] = json!(client.project_id(&p).await?);
            }
            let answer = client.post(BASE, body).await?;
            if !json {
                println!(
                    "Created dbt connection {}.",
                    text(&answer["appConnection"]["name"])
                );
                show(&answer["appConnection"]);
            }
            answer
        }
        ConnectionsCommand::Update {
            connection,
            name,
            description,
            instance_url,
            account_id,
            token,
        } => {
            let current = get(&client, &connection, None).await?;
            let current = &current["appConnection"];
            let id = text(&current["id"]);
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(d) = description {
                body["description"] = if d.is_empty() { Value::Null } else { json!(d) };
            }
            let api_token = token.value()?;
            if instance_url.is_some() || account_id.is_some() || api_token.is_some() {
                let api_token = api_token.ok_or_else(|| {
                    Failure::usage(
                        "changing the instance URL or account id needs the API token too \
                         (--api-token -, stdin, or ROTAD_DBT_API_TOKEN)",
                    )
                })?;
                let creds = &current["credentials"];
                body["credentials"] = json!({
                    "instanceUrl": instance_url.unwrap_or_else(|| text(&creds["instanceUrl"])),
                    "accountId": account_id.unwrap_or_else(|| text(&creds["accountId"])),
                    "apiToken": api_token,
                });
            }
            if body.as_object().is_some_and(|o| o.is_empty()) {
                return Err(Failure::usage(
                    "nothing to update: pass --name, --description or credentials",
                ));
            }
            let answer = client.patch(&format!("{BASE}/{id}"), body).await?;
            if !json {
                println!(
                    "Updated dbt connection {}.",
                    text(&answer["appConnection"]["name"])
                );
                show(&answer["appConnection"]);
            }
            answer
        }
        ConnectionsCommand::Delete { connection } => {
            let id = connection_id(&client, &connection, None).await?;
            let answer = client.delete(&format!("{BASE}/{id}"), &[], None).await?;
            if !json {
                let c = &answer["appConnection"];
                println!(
                    "Deleted dbt connection {} ({}).",
                    text(&c["name"]),
                    text(&c["id"])
                );
            }
            answer
        }
    };
    if json {
        print_json(&answer);
    }
    Ok(())
}

/// A connection by id, or by name (an organization connection, or `project`'s).
async fn get(client: &Client, connection: &str, project: Option<&str>) -> Res<Value> {
    if uuid::Uuid::parse_str(connection.trim()).is_ok() {
        return client
            .get(&format!("{BASE}/{}", connection.trim()), &[])
            .await;
    }
    let project = match project {
        Some(p) => Some(client.project_id(p).await?),
        None => None,
    };
    let query: Vec<(&str, &str)> = project
        .as_deref()
        .map(|p| vec![("projectId", p)])
        .unwrap_or_default();
    client
        .get(
            &format!("{BASE}/connection-name/{}", urlencode(connection.trim())),
            &query,
        )
        .await
}

/// The id of a connection given by id or name (an organization's, or `project`'s).
pub async fn connection_id(
    client: &Client,
    connection: &str,
    project: Option<&str>,
) -> Res<String> {
    if uuid::Uuid::parse_str(connection.trim()).is_ok() {
        return Ok(connection.trim().to_string());
    }
    // An organization connection, else the project's own.
    let answer = match (get(client, connection, None).await, project) {
        (Ok(a), _) => a,
        (Err(f), Some(p)) if f.status == 404 => get(client, connection, Some(p)).await?,
        (Err(f), _) => return Err(f),
    };
    Ok(text(&answer["appConnection"]["id"]))
}

fn show(c: &Value) {
    fields(&[
        ("id", text(&c["id"])),
        ("name", text(&c["name"])),
        ("description", text(&c["description"])),
        ("instance url", text(&c["credentials"]["instanceUrl"])),
        ("account id", text(&c["credentials"]["accountId"])),
        ("project", text(&c["projectId"])),
        ("created", when(&c["createdAt"])),
        ("updated", when(&c["updatedAt"])),
    ]);
}

#[cfg(test)]
mod redaction_tests {
    use super::ApiToken;

    #[test]
    fn debug_redacts_the_api_token() {
        let token = ApiToken {
            api_token: Some("dbtc_KnownSecretApiToken".to_string()),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
