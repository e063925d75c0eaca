//! `rotad secrets get|list|set|delete`.

use std::io::{IsTerminal, Read};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::folders::urlencode;
use super::output::{print_json, table, text, when};
use super::{Client, Conn, Failure, FolderRef, Res};

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: SecretsCommand,
}

/// `Debug` redacts the value of `set`.
#[derive(Subcommand)]
enum SecretsCommand {
    /// Print one secret's value (alone, for `$(…)`), or with --json the server's answer.
    Get {
        name: String,
        #[command(flatten)]
        at: FolderRef,
    },
    /// List the folder's secrets; values are masked unless --reveal.
    List {
        #[command(flatten)]
        at: FolderRef,
        /// Show the values.
        #[arg(long)]
        reveal: bool,
    },
    /// Create or update a secret. Without VALUE (or with `-`) the value is read from stdin.
    Set {
        name: String,
        value: Option<String>,
        #[command(flatten)]
        at: FolderRef,
        /// A comment stored with the secret.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Delete a secret.
    Delete {
        name: String,
        #[command(flatten)]
        at: FolderRef,
    },
}

impl std::fmt::Debug for SecretsCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretsCommand::Get { name, at } => f
                .debug_struct("Get")
                .field("name", name)
                .field("at", at)
                .finish(),
            SecretsCommand::List { at, reveal } => f
                .debug_struct("List")
                .field("at", at)
                .field("reveal", reveal)
                .finish(),
            SecretsCommand::Set {
                name,
                value,
                at,
                comment,
            } => f
                .debug_struct("Set")
                .field("name", name)
                .field("value", &value.as_ref().map(|_| format_args!("[redacted]")))
                .field("at", at)
                .field("comment", comment)
                .finish(),
            SecretsCommand::Delete { name, at } => f
                .debug_struct("Delete")
                .field("name", name)
                .field("at", at)
                .finish(),
        }
    }
}

fn location(project: &str, at: &FolderRef) -> Value {
    json!({"workspaceId": project, "environment": at.environment, "secretPath": at.path, "type": "shared"})
}

pub async fn run(args: SecretsArgs) -> Res<()> {
    let client = Client::connect(&args.conn).await?;
    let json = args.conn.json;
    match args.command {
        SecretsCommand::Get { name, at } => {
            let project = client.project_id(&at.project).await?;
            let answer = client
                .get(
                    &format!("/api/v3/secrets/raw/{}", urlencode(&name)),
                    &[
                        ("workspaceId", project.as_str()),
                        ("environment", at.environment.as_str()),
                        ("secretPath", at.path.as_str()),
                    ],
                )
                .await?;
            if json {
                print_json(&answer);
            } else {
                println!("{}", answer["secret"]["secretValue"].as_str().unwrap_or(""));
            }
        }
        SecretsCommand::List { at, reveal } => {
            let answer = list(&client, &at).await?;
            if json {
                print_json(&answer);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let value = if reveal {
                        s["secretValue"].as_str().unwrap_or("").to_string()
                    } else {
                        "********".to_string()
                    };
                    let rotated = match &s["rotationId"] {
                        Value::String(id) => format!("rotation {id}"),
                        _ if s["isRotatedSecret"] == true => "yes".to_string(),
                        _ => "-".to_string(),
                    };
                    vec![
                        text(&s["secretKey"]),
                        value,
                        text(&s["version"]),
                        rotated,
                        when(&s["updatedAt"]),
                    ]
                })
                .collect();
            table(
                &["KEY", "VALUE", "VERSION", "ROTATED", "UPDATED"],
                &rows,
                &format!("No secrets in {} {}.", at.environment, at.path),
            );
        }
        SecretsCommand::Set {
            name,
            value,
            at,
            comment,
        } => {
            let value = match value.as_deref() {
                Some("-") | None => read_stdin_value()?,
                Some(v) => v.to_string(),
            };
            let project = client.project_id(&at.project).await?;
            let path = format!("/api/v3/secrets/raw/{}", urlencode(&name));
            let mut body = location(&project, &at);
            body["secretValue"] = json!(value);
            if let Some(c) = comment {
                body["secretComment"] = json!(c);
            }
            let (answer, verb) = match client.patch(&path, body.clone()).await {
                Ok(a) => (a, "Updated"),
                Err(f) if f.status == 404 => (client.post(&path, body).await?, "Created"),
                Err(f) => return Err(f),
            };
            if json {
                print_json(&answer);
            } else {
                let s = &answer["secret"];
                println!(
                    "{verb} secret {} in {} {} (version {}).",
                    text(&s["secretKey"]),
                    at.environment,
                    at.path,
                    text(&s["version"])
                );
            }
        }
        SecretsCommand::Delete { name, at } => {
            let project = client.project_id(&at.project).await?;
            let answer = client
                .delete(
                    &format!("/api/v3/secrets/raw/{}", urlencode(&name)),
                    &[],
                    Some(location(&project, &at)),
                )
                .await?;
            if json {
                print_json(&answer);
            } else {
                println!("Deleted secret {name} from {} {}.", at.environment, at.path);
            }
        }
    }
    Ok(())
}

/// The folder's secrets with values (`GET /api/v3/secrets/raw`).
pub async fn list(client: &Client, at: &FolderRef) -> Res<Value> {
    let project = client.project_id(&at.project).await?;
    client
        .get(
            "/api/v3/secrets/raw",
            &[
                ("workspaceId", project.as_str()),
                ("environment", at.environment.as_str()),
                ("secretPath", at.path.as_str()),
            ],
        )
        .await
}

/// A value piped on stdin, without its final newline; refuses an interactive terminal.
pub fn read_stdin_value() -> Res<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::usage(
            "no value given: pass it as an argument or pipe it on stdin",
        ));
    }
    let mut value = String::new();
    stdin
        .lock()
        .read_to_string(&mut value)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    Ok(value)
}

#[cfg(test)]
mod redaction_tests {
    use super::SecretsCommand;
    use crate::cli::FolderRef;

    #[test]
    fn debug_redacts_the_value_to_set() {
        let command = SecretsCommand::Set {
            name: "DB_PASSWORD".to_string(),
            value: Some("KnownSecretValue".to_string()),
            at: FolderRef {
                project: "analytics".to_string(),
                environment: "dev".to_string(),
                path: "/".to_string(),
            },
            comment: None,
        };
        let shown = format!("{command:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("DB_PASSWORD"),
            "{shown}"
        );
    }
}
