//! `dbt-cloud-emulator`: run the emulator as a standalone server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use dbt_cloud_emulator::EmulatorConfig;

/// A local fake of the dbt Cloud service-token API, with fault injection under /_emulator/.
#[derive(Debug, Parser)]
#[command(name = "dbt-cloud-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090", env = "DBT_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// The account id served.
    #[arg(long, default_value_t = 1, env = "DBT_EMULATOR_ACCOUNT_ID")]
    account_id: i64,
    /// The account name.
    #[arg(long, default_value = "Emulated Account")]
    account_name: String,
    /// Secret of the seeded account_admin service token; generated when absent.
    #[arg(long, env = "DBT_EMULATOR_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Latency added to every API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let emulator = dbt_cloud_emulator::spawn(EmulatorConfig {
        listen: args.listen,
        account_id: args.account_id,
        account_name: args.account_name,
        admin_token: args.admin_token.filter(|t| !t.trim().is_empty()),
        latency: Duration::from_millis(args.latency_ms),
    })
    .await
    .context("starting the emulator")?;
    println!(
        "dbt-cloud-emulator listening base_url={} account_id={} admin_token={}",
        emulator.base_url(),
        emulator.account_id(),
        emulator.admin_token()
    );
    shutdown_signal().await;
    emulator.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
