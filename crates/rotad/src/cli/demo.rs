//! `rotad demo`: a first run in seconds. In a temporary folder it starts the dbt Cloud emulator
//! and a rotad server in this process (SQLite, a generated key, loopback, port 0), then drives
//! the server over HTTP as any client would: bootstrap, a project, a dbt connection with the
//! emulator's admin token, a rotation, and two rotations, showing the published token change
//! and the displaced one revoked in the emulator. Everything is stopped and the folder removed
//! at the end, whatever happens; with `--keep`, only after Ctrl-C, and meanwhile the web
//! dashboard is open to a printed one-time sign-in link.
//!
//! This is the only place the rotad crate uses `dbt-cloud-emulator`; the server never does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use dbt_cloud_emulator::{Emulator, EmulatorConfig, STATE_DELETED};
use serde_json::json;

use super::output::{short_secret, table, text};
use super::progress::Spinner;
use super::{Client, Failure, Res};
use crate::config::ServeArgs;
use crate::crypto::RootKey;
use crate::Server;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo server and emulator running until Ctrl-C, and print a one-time link that
    /// signs the browser in to the web dashboard.
    #[arg(long)]
    pub keep: bool,
}

const ROTATIONS: &str = "/api/v2/secret-rotations/dbt-service-token";
const SECRET: &str = "DBT_SERVICE_TOKEN";

/// The temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn create() -> Res<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "rotad-demo-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn step(n: usize, what: &str, detail: impl AsRef<str>) {
    println!("[{n}/8] {what:<16} {}", detail.as_ref());
}

pub async fn run(demo: DemoArgs) -> Res<()> {
    let started = Instant::now();
    let dir = TempDir::create()?;
    println!(
        "rotad demo: a throw-away server and dbt Cloud emulator in {}\n",
        dir.0.display()
    );
    let emulator = dbt_cloud_emulator::spawn(EmulatorConfig::default())
        .await
        .map_err(|e| Failure::usage(format!("cannot start the dbt Cloud emulator: {e:#}")))?;
    step(
        1,
        "dbt emulator",
        format!(
            "{} (account {}, admin token {})",
            emulator.base_url(),
            emulator.account_id(),
            short_secret(&emulator.admin_token())
        ),
    );
    let mut args = ServeArgs::for_database(format!("sqlite://{}/rotad.db", dir.0.display()));
    args.encryption_key = Some(RootKey::generate_base64());
    args.allow_internal_ip_connections = true;
    let server = match Server::start(&args).await {
        Ok(s) => s,
        Err(e) => {
            emulator.shutdown().await;
            return Err(Failure::usage(format!("cannot start the server: {e:#}")));
        }
    };
    step(
        2,
        "rotad server",
        format!("{} (SQLite, generated encryption key)", server.url()),
    );
    let outcome = steps(&emulator, &server.url()).await;
    if let Ok(token) = &outcome {
        if demo.keep {
            keep_open(&server, token).await;
        } else {
            println!(
                "\nDashboard: {}/ (it stops with this demo; `rotad demo --keep` keeps it up and \
                 prints a sign-in link)",
                server.url()
            );
        }
    }
    let _ = server.stop().await;
    emulator.shutdown().await;
    let shown = dir.0.display().to_string();
    drop(dir);
    outcome?;
    println!(
        "\nStopped the server and the emulator and removed {shown} ({:.1}s).",
        started.elapsed().as_secs_f64()
    );
    println!(
        "Next: `rotad serve`, `rotad bootstrap --organization NAME`, then \
         `rotad connections create` and `rotad rotations create` against your dbt Cloud account."
    );
    Ok(())
}

/// `--keep`: prints the dashboard's URL and a one-time sign-in link, and waits for Ctrl-C.
async fn keep_open(server: &Server, token: &str) {
    let meta = crate::services::RequestMeta::default();
    match server.app.dashboard_link(token, &meta).await {
        Ok(link) => {
            println!("\nDashboard: {}/", server.url());
            println!(
                "Open this one-time link to sign in (single use, valid for {} minutes):\n  {}/sign-in/link?t={}",
                crate::services::sessions::LINK_TTL_MS / 60_000,
                server.url(),
                link.id
            );
        }
        Err(e) => println!("\nDashboard: {}/ (no sign-in link: {e})", server.url()),
    }
    println!("The demo keeps running; press Ctrl-C to stop it and remove its folder.");
    let _ = tokio::signal::ctrl_c().await;
    println!();
}

async fn steps(emulator: &Emulator, url: &str) -> Res<String> {
    let anon = Client::anonymous(url)?;
    let boot = anon
        .post("/api/v1/admin/bootstrap", json!({"organization": "demo"}))
        .await?;
    let token = text(&boot["identity"]["credentials"]["token"]);
    step(
        3,
        "bootstrap",
        format!(
            "organization \"demo\", admin token {}",
            short_secret(&token)
        ),
    );
    let client = anon.with_token(token.clone());

    let project = client
        .post("/api/v2/workspace", json!({"projectName": "demo"}))
        .await?;
    let project_id = text(&project["project"]["id"]);
    step(
        4,
        "project",
        format!("demo ({project_id}), environments dev, staging, prod"),
    );

    let connection = client
        .post(
            "/api/v1/app-connections/dbt",
            json!({
                "name": "dbt-emulator",
                "method": "api-token",
                "credentials": {
                    "instanceUrl": emulator.base_url(),
                    "accountId": emulator.account_id().to_string(),
                    "apiToken": emulator.admin_token(),
                },
            }),
        )
        .await?;
    let connection_id = text(&connection["appConnection"]["id"]);
    step(
        5,
        "dbt connection",
        format!("dbt-emulator ({connection_id}), checked against dbt"),
    );

    let created = client
        .post(
            ROTATIONS,
            json!({
                "name": "analytics-ci",
                "projectId": project_id,
                "connectionId": connection_id,
                "environment": "prod",
                "secretPath": "/",
                "rotationInterval": 30,
                "parameters": {"tokenName": "analytics-ci", "permissionGrants": [{"permissionSet": "job_admin"}]},
                "secretsMapping": {"serviceToken": SECRET},
            }),
        )
        .await?;
    let rotation_id = text(&created["secretRotation"]["id"]);
    let (first_value, first_id) = published(&client, &project_id, &rotation_id).await?;
    step(
        6,
        "rotation",
        format!(
            "analytics-ci publishes prod:/{SECRET} = {} (token id {first_id})",
            short_secret(&first_value)
        ),
    );

    let mut previous = (first_value, first_id);
    for round in 1..=2 {
        let spinner = Spinner::start(&format!("rotating ({round} of 2)"));
        client
            .post(
                &format!("{ROTATIONS}/{rotation_id}/rotate-secrets"),
                json!({}),
            )
            .await?;
        let (value, id) = published(&client, &project_id, &rotation_id).await?;
        spinner.done(&format!("token id {id} issued"));
        if value == previous.0 {
            return Err(Failure::server("the published token did not change"));
        }
        // Round 2 displaces the token from two rotations ago, i.e. the first one.
        let note = if round == 1 {
            format!("token {} stays live until the next rotation", previous.1)
        } else {
            format!("token {first_id} is displaced and revoked")
        };
        step(
            6 + round,
            &format!("rotate #{round}"),
            format!(
                "{SECRET} = {} (token id {id}); {note}",
                short_secret(&value)
            ),
        );
        previous = (value, id);
    }
    let first = first_id;
    let spinner = Spinner::start(&format!("waiting for token {first} to be revoked in dbt"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = emulator
            .tokens()
            .into_iter()
            .find(|t| t.id == first)
            .map(|t| t.state);
        if state == Some(STATE_DELETED) {
            spinner.done(&format!(
                "token {first} has state {STATE_DELETED} (revoked)"
            ));
            break;
        }
        if Instant::now() > deadline {
            drop(spinner);
            return Err(Failure::server(format!(
                "token {first} was not revoked within 15 seconds"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("\nTokens in the emulator:");
    let rows: Vec<Vec<String>> = emulator
        .tokens()
        .into_iter()
        .map(|t| {
            let role = if t.id == previous.1 {
                ", published"
            } else if t.state != STATE_DELETED && t.name == "analytics-ci" {
                ", previous"
            } else {
                ""
            };
            let state = if t.state == STATE_DELETED {
                format!("{} (revoked)", t.state)
            } else {
                format!("{} (active{role})", t.state)
            };
            vec![
                t.id.to_string(),
                t.name,
                short_secret(&t.token_string),
                state,
            ]
        })
        .collect();
    table(&["ID", "NAME", "TOKEN", "STATE"], &rows, "No tokens.");
    Ok(token)
}

/// The published secret's value (as a consumer reads it) and the active slot's dbt token id.
async fn published(client: &Client, project: &str, rotation: &str) -> Res<(String, i64)> {
    let secret = client
        .get(
            &format!("/api/v3/secrets/raw/{SECRET}"),
            &[
                ("workspaceId", project),
                ("environment", "prod"),
                ("secretPath", "/"),
            ],
        )
        .await?;
    let value = text(&secret["secret"]["secretValue"]);
    let creds = client
        .get(
            &format!("{ROTATIONS}/{rotation}/generated-credentials"),
            &[],
        )
        .await?;
    let active = creds["activeIndex"].as_i64().unwrap_or(0) as usize;
    let id = creds["generatedCredentials"][active]["tokenId"]
        .as_i64()
        .unwrap_or_default();
    Ok((value, id))
}
