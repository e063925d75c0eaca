//! `rotad folders list|create|delete`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::{print_json, table, text, when};
use super::{Client, Conn, FolderRef, Res};

#[derive(Debug, Args)]
pub struct FoldersArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: FoldersCommand,
}

#[derive(Debug, Subcommand)]
enum FoldersCommand {
    /// List the folders directly under --path.
    List {
        #[command(flatten)]
        at: FolderRef,
    },
    /// Create folder NAME under --path.
    Create {
        name: String,
        #[command(flatten)]
        at: FolderRef,
    },
    /// Delete folder NAME (or id) under --path, with everything below it.
    Delete {
        name: String,
        #[command(flatten)]
        at: FolderRef,
    },
}

pub async fn run(args: FoldersArgs) -> Res<()> {
    let client = Client::connect(&args.conn).await?;
    let json = args.conn.json;
    match args.command {
        FoldersCommand::List { at } => {
            let project = client.project_id(&at.project).await?;
            let answer = client
                .get(
                    "/api/v1/folders",
                    &[
                        ("workspaceId", project.as_str()),
                        ("environment", at.environment.as_str()),
                        ("path", at.path.as_str()),
                    ],
                )
                .await?;
            if json {
                print_json(&answer);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["folders"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    vec![
                        text(&f["name"]),
                        text(&f["path"]),
                        text(&f["id"]),
                        when(&f["createdAt"]),
                    ]
                })
                .collect();
            table(
                &["NAME", "PATH", "ID", "CREATED"],
                &rows,
                &format!("No folders under {}.", at.path),
            );
        }
        FoldersCommand::Create { name, at } => {
            let project = client.project_id(&at.project).await?;
            let answer = client
                .post(
                    "/api/v2/folders",
                    json!({"projectId": project, "environment": at.environment, "name": name, "path": at.path}),
                )
                .await?;
            if json {
                print_json(&answer);
            } else {
                let f = &answer["folder"];
                println!(
                    "Created folder {} in {} ({}).",
                    text(&f["path"]),
                    at.environment,
                    text(&f["id"])
                );
            }
        }
        FoldersCommand::Delete { name, at } => {
            let project = client.project_id(&at.project).await?;
            let answer = client
                .delete(
                    &format!("/api/v1/folders/{}", urlencode(&name)),
                    &[],
                    Some(json!({"projectId": project, "environment": at.environment, "path": at.path})),
                )
                .await?;
            if json {
                print_json(&answer);
            } else {
                let f = &answer["folder"];
                println!(
                    "Deleted folder {} from {} ({}).",
                    text(&f["path"]),
                    at.environment,
                    text(&f["id"])
                );
            }
        }
    }
    Ok(())
}

/// Percent-encodes one path segment.
pub fn urlencode(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
