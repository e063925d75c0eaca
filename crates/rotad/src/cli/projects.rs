//! `rotad projects list|create|get|delete`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{fields, print_json, table, text, when};
use super::{Client, Conn, Res};

#[derive(Debug, Args)]
pub struct ProjectsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: ProjectsCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectsCommand {
    /// List the projects the token can read.
    List,
    /// Create a project with the environments dev, staging and prod.
    Create {
        name: String,
        #[arg(long)]
        slug: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Show a project (by id, slug or name).
    Get { project: String },
    /// Delete a project with everything in it (by id, slug or name).
    Delete { project: String },
}

pub async fn run(args: ProjectsArgs) -> Res<()> {
    let client = Client::connect(&args.conn).await?;
    let json = args.conn.json;
    match args.command {
        ProjectsCommand::List => {
            let answer = client.get("/api/v1/projects", &[]).await?;
            if json {
                print_json(&answer);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["projects"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    vec![
                        text(&p["id"]),
                        text(&p["name"]),
                        text(&p["slug"]),
                        environments(p),
                        when(&p["createdAt"]),
                    ]
                })
                .collect();
            table(
                &["ID", "NAME", "SLUG", "ENVIRONMENTS", "CREATED"],
                &rows,
                "No projects.",
            );
        }
        ProjectsCommand::Create {
            name,
            slug,
            description,
        } => {
            let mut body = json!({"projectName": name});
            if let Some(slug) = slug {
                body["slug"] = json!(slug);
            }
            if let Some(d) = description {
                body["projectDescription"] = json!(d);
            }
            let answer = client.post("/api/v2/workspace", body).await?;
            if json {
                print_json(&answer);
            } else {
                println!("Created project {}.", text(&answer["project"]["name"]));
                show(&answer["project"]);
            }
        }
        ProjectsCommand::Get { project } => {
            let id = client.project_id(&project).await?;
            let answer = client.get(&format!("/api/v1/projects/{id}"), &[]).await?;
            if json {
                print_json(&answer);
            } else {
                show(&answer["project"]);
            }
        }
        ProjectsCommand::Delete { project } => {
            let id = client.project_id(&project).await?;
            let answer = client
                .delete(&format!("/api/v1/projects/{id}"), &[], None)
                .await?;
            if json {
                print_json(&answer);
            } else {
                let p = &answer["project"];
                println!("Deleted project {} ({}).", text(&p["name"]), text(&p["id"]));
            }
        }
    }
    Ok(())
}

fn environments(p: &Value) -> String {
    p["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["slug"].as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn show(p: &Value) {
    fields(&[
        ("id", text(&p["id"])),
        ("name", text(&p["name"])),
        ("slug", text(&p["slug"])),
        ("description", text(&p["description"])),
        ("environments", environments(p)),
        ("created", when(&p["createdAt"])),
    ]);
}
