//! `rotad rotations list|get|create|update|rotate|credentials|delete`: dbt service-token
//! rotations.

use clap::{ArgAction, Args, Subcommand};
use serde_json::{json, Value};

use super::connections::connection_id;
use super::output::{fields, print_json, short_secret, table, text, when};
use super::{Client, Conn, Failure, Res};

const BASE: &str = "/api/v2/secret-rotations/dbt-service-token";

#[derive(Debug, Args)]
pub struct RotationsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: RotationsCommand,
}

#[derive(Debug, Subcommand)]
enum RotationsCommand {
    /// List a project's dbt service-token rotations.
    List {
        /// Project id, slug or name.
        #[arg(long)]
        project: String,
    },
    /// Show a rotation.
    Get { id: String },
    /// Create a rotation: issues the first token and publishes it as a secret.
    Create(CreateArgs),
    /// Change a rotation's name, schedule, token parameters or secret name.
    Update(UpdateArgs),
    /// Rotate now: issue a new token, publish it, revoke the one from two rotations ago.
    Rotate { id: String },
    /// Show the tokens in both slots (masked unless --reveal) and which one is published.
    Credentials {
        id: String,
        /// Print the tokens in full.
        #[arg(long)]
        reveal: bool,
    },
    /// Delete a rotation.
    Delete {
        id: String,
        /// Also delete the secret the rotation publishes.
        #[arg(long)]
        delete_secrets: bool,
        /// Also revoke the rotation's tokens in dbt Cloud.
        #[arg(long)]
        revoke_tokens: bool,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Rotation name (lowercase letters, digits, hyphens).
    #[arg(long)]
    name: String,
    /// Project id, slug or name.
    #[arg(long)]
    project: String,
    /// Environment slug of the published secret.
    #[arg(long = "env", value_name = "SLUG")]
    environment: String,
    /// Folder of the published secret.
    #[arg(long, default_value = "/")]
    path: String,
    /// dbt connection id or name.
    #[arg(long)]
    connection: String,
    /// Name of the dbt service tokens [default: the rotation's name].
    #[arg(long)]
    token_name: Option<String>,
    /// Permission grant `permission_set[:dbt_project_id]`, e.g. `job_admin` or `developer:42`.
    #[arg(long = "grant", required = true, value_parser = parse_grant, action = ArgAction::Append)]
    grants: Vec<Value>,
    /// Name of the secret holding the current token.
    #[arg(long, default_value = "DBT_SERVICE_TOKEN")]
    secret_name: String,
    /// Rotate every N days.
    #[arg(long, default_value_t = 30)]
    interval: u32,
    /// Time of day (UTC) to rotate at, `HH:MM`.
    #[arg(long, value_parser = parse_at, value_name = "HH:MM")]
    at: Option<Value>,
    /// Only rotate when asked (`rotad rotations rotate`).
    #[arg(long)]
    no_auto: bool,
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    id: String,
    #[arg(long)]
    name: Option<String>,
    /// New description; an empty string clears it.
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    interval: Option<u32>,
    #[arg(long, value_parser = parse_at, value_name = "HH:MM")]
    at: Option<Value>,
    /// Turn scheduled rotation on.
    #[arg(long, conflicts_with = "no_auto")]
    auto: bool,
    /// Turn scheduled rotation off.
    #[arg(long)]
    no_auto: bool,
    #[arg(long)]
    token_name: Option<String>,
    /// Replaces all grants; repeatable.
    #[arg(long = "grant", value_parser = parse_grant, action = ArgAction::Append)]
    grants: Vec<Value>,
    #[arg(long)]
    secret_name: Option<String>,
}

/// `permission_set[:project_id]` as the API's `{permissionSet, projectId?}`.
fn parse_grant(s: &str) -> Result<Value, String> {
    let (set, project) = match s.split_once(':') {
        Some((set, p)) => (set, Some(p)),
        None => (s, None),
    };
    if set.trim().is_empty() {
        return Err(format!(
            "--grant must be permission_set[:project_id], got {s:?}"
        ));
    }
    match project {
        None => Ok(json!({"permissionSet": set.trim()})),
        Some(p) => p
            .trim()
            .parse::<u64>()
            .map(|id| json!({"permissionSet": set.trim(), "projectId": id}))
            .map_err(|_| format!("--grant project id must be a number, got {p:?}")),
    }
}

/// `HH:MM` as the API's `{hours, minutes}`.
fn parse_at(s: &str) -> Result<Value, String> {
    let bad = || format!("--at must be HH:MM (UTC), got {s:?}");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m) = (
        h.parse::<u8>().map_err(|_| bad())?,
        m.parse::<u8>().map_err(|_| bad())?,
    );
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(json!({"hours": h, "minutes": m}))
}

fn check_id(id: &str) -> Res<String> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| Failure::usage(format!("rotation id must be a UUID, got {id:?}")))
}

pub async fn run(args: RotationsArgs) -> Res<()> {
    let client = Client::connect(&args.conn).await?;
    let json = args.conn.json;
    let answer = match args.command {
        RotationsCommand::List { project } => {
            let project = client.project_id(&project).await?;
            let answer = client.get(BASE, &[("projectId", project.as_str())]).await?;
            if !json {
                let rows: Vec<Vec<String>> = answer["secretRotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        vec![
                            text(&r["id"]),
                            text(&r["name"]),
                            format!(
                                "{}:{}",
                                text(&r["environment"]["slug"]),
                                text(&r["folder"]["path"])
                            ),
                            text(&r["secretsMapping"]["serviceToken"]),
                            text(&r["rotationStatus"]),
                            when(&r["lastRotatedAt"]),
                            next(r),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "NAME",
                        "ENV:PATH",
                        "SECRET",
                        "STATUS",
                        "LAST ROTATED",
                        "NEXT",
                    ],
                    &rows,
                    "No rotations.",
                );
            }
            answer
        }
        RotationsCommand::Get { id } => {
            let answer = client
                .get(&format!("{BASE}/{}", check_id(&id)?), &[])
                .await?;
            if !json {
                show(&answer["secretRotation"]);
            }
            answer
        }
        RotationsCommand::Create(a) => {
            let project = client.project_id(&a.project).await?;
            let connection = connection_id(&client, &a.connection, Some(&project)).await?;
            let mut body = json!({
                "name": a.name,
                "projectId": project,
                "connectionId": connection,
                "environment": a.environment,
                "secretPath": a.path,
                "isAutoRotationEnabled": !a.no_auto,
                "rotationInterval": a.interval,
                "parameters": {
                    "tokenName": a.token_name.unwrap_or_else(|| a.name.clone()),
                    "permissionGrants": a.grants,
                },
                "secretsMapping": {"serviceToken": a.secret_name},
            });
            if let Some(at) = a.at {
                body["rotateAtUtc"] = at;
            }
            if let Some(d) = a.description {
                body["description"] = json!(d);
            }
            let answer = client.post(BASE, body).await?;
            if !json {
                let r = &answer["secretRotation"];
                println!(
                    "Created rotation {}: the first token is published as {}.",
                    text(&r["name"]),
                    text(&r["secretsMapping"]["serviceToken"])
                );
                show(r);
            }
            answer
        }
        RotationsCommand::Update(a) => {
            let id = check_id(&a.id)?;
            let mut body = json!({});
            if let Some(n) = a.name {
                body["name"] = json!(n);
            }
            if let Some(d) = a.description {
                body["description"] = if d.is_empty() { Value::Null } else { json!(d) };
            }
            if let Some(i) = a.interval {
                body["rotationInterval"] = json!(i);
            }
            if let Some(at) = a.at {
                body["rotateAtUtc"] = at;
            }
            if a.auto || a.no_auto {
                body["isAutoRotationEnabled"] = json!(a.auto);
            }
            if let Some(s) = a.secret_name {
                body["secretsMapping"] = json!({"serviceToken": s});
            }
            if a.token_name.is_some() || !a.grants.is_empty() {
                // `parameters` is replaced whole: keep what is not being changed.
                let current = client.get(&format!("{BASE}/{id}"), &[]).await?;
                let params = &current["secretRotation"]["parameters"];
                body["parameters"] = json!({
                    "tokenName": a.token_name.map(Value::from).unwrap_or_else(|| params["tokenName"].clone()),
                    "permissionGrants": if a.grants.is_empty() { params["permissionGrants"].clone() } else { Value::from(a.grants) },
                });
            }
            if body.as_object().is_some_and(|o| o.is_empty()) {
                return Err(Failure::usage(
                    "nothing to update: pass at least one option",
                ));
            }
            let answer = client.patch(&format!("{BASE}/{id}"), body).await?;
            if !json {
                println!(
                    "Updated rotation {}.",
                    text(&answer["secretRotation"]["name"])
                );
                show(&answer["secretRotation"]);
            }
            answer
        }
        RotationsCommand::Rotate { id } => {
            let id = check_id(&id)?;
            let answer = client
                .post(&format!("{BASE}/{id}/rotate-secrets"), json!({}))
                .await?;
            if !json {
                let r = &answer["secretRotation"];
                println!(
                    "Rotated {}: {} now holds a new token (slot {}); status {}; next rotation {}.",
                    text(&r["name"]),
                    text(&r["secretsMapping"]["serviceToken"]),
                    text(&r["activeIndex"]),
                    text(&r["rotationStatus"]),
                    next(r)
                );
            }
            answer
        }
        RotationsCommand::Credentials { id, reveal } => {
            let id = check_id(&id)?;
            let answer = client
                .get(&format!("{BASE}/{id}/generated-credentials"), &[])
                .await?;
            if !json {
                let active = answer["activeIndex"].as_i64().unwrap_or(-1);
                let rows: Vec<Vec<String>> = answer["generatedCredentials"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c)| {
                        let token = c["serviceToken"].as_str().unwrap_or("");
                        vec![
                            i.to_string(),
                            if i as i64 == active {
                                "yes (published)"
                            } else {
                                "no (previous)"
                            }
                            .to_string(),
                            text(&c["tokenId"]),
                            text(&c["tokenName"]),
                            if reveal {
                                token.to_string()
                            } else {
                                short_secret(token)
                            },
                        ]
                    })
                    .collect();
                table(
                    &["SLOT", "ACTIVE", "TOKEN ID", "TOKEN NAME", "TOKEN"],
                    &rows,
                    "No generated credentials.",
                );
            }
            answer
        }
        RotationsCommand::Delete {
            id,
            delete_secrets,
            revoke_tokens,
        } => {
            let id = check_id(&id)?;
            let answer = client
                .delete(
                    &format!("{BASE}/{id}"),
                    &[
                        (
                            "deleteSecrets",
                            if delete_secrets { "true" } else { "false" },
                        ),
                        (
                            "revokeGeneratedCredentials",
                            if revoke_tokens { "true" } else { "false" },
                        ),
                    ],
                    None,
                )
                .await?;
            if !json {
                let r = &answer["secretRotation"];
                let mut extra = Vec::new();
                if delete_secrets {
                    extra.push("its secret deleted");
                }
                if revoke_tokens {
                    extra.push("its tokens revoked");
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(", {}", extra.join(" and "))
                };
                println!(
                    "Deleted rotation {} ({}){extra}.",
                    text(&r["name"]),
                    text(&r["id"])
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

fn next(r: &Value) -> String {
    if r["isAutoRotationEnabled"] == false {
        "manual only".to_string()
    } else {
        when(&r["nextRotationAt"])
    }
}

fn show(r: &Value) {
    let grants = r["parameters"]["permissionGrants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| match g["projectId"].as_f64() {
            Some(p) => format!("{}:{}", text(&g["permissionSet"]), p as i64),
            None => text(&g["permissionSet"]),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let at = &r["rotateAtUtc"];
    fields(&[
        ("id", text(&r["id"])),
        ("name", text(&r["name"])),
        ("description", text(&r["description"])),
        ("project", text(&r["projectId"])),
        ("environment", text(&r["environment"]["slug"])),
        ("path", text(&r["folder"]["path"])),
        ("secret", text(&r["secretsMapping"]["serviceToken"])),
        (
            "connection",
            format!(
                "{} ({})",
                text(&r["connection"]["name"]),
                text(&r["connectionId"])
            ),
        ),
        ("token name", text(&r["parameters"]["tokenName"])),
        ("grants", grants),
        (
            "schedule",
            format!(
                "every {} day(s) at {:02}:{:02} UTC{}",
                text(&r["rotationInterval"]),
                at["hours"].as_i64().unwrap_or(0),
                at["minutes"].as_i64().unwrap_or(0),
                if r["isAutoRotationEnabled"] == false {
                    " (auto rotation off)"
                } else {
                    ""
                }
            ),
        ),
        ("status", text(&r["rotationStatus"])),
        ("active slot", text(&r["activeIndex"])),
        ("last rotated", when(&r["lastRotatedAt"])),
        ("next rotation", next(r)),
        ("last message", text(&r["lastRotationMessage"])),
    ]);
}
