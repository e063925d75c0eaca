use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rotad::config::{LogFormat, ServeArgs};
use tracing_subscriber::EnvFilter;

/// glibc's allocator spent about a fifth of a cached read's CPU time under concurrent load
/// (docs/BENCHMARKS.md); mimalloc's thread-local heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rotad: secret rotation server speaking Infisical's HTTP API.
#[derive(Parser)]
#[command(name = "rotad", version, about, after_help = rotad::cli::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Set up an empty instance and print the admin identity and token as JSON.
    Bootstrap {
        /// Name of the organization to create.
        #[arg(long)]
        organization: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Run the database migrations and exit.
    Migrate(ServeArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Exit 0 when the server at URL answers its status route.
    Healthcheck {
        #[arg(default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    #[command(flatten)]
    Client(rotad::cli::ClientCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line naming the problem (and so the variable) rather than clap's usage block.
            let text = e.to_string();
            // The first paragraph, so a list of missing flags stays on that line.
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            if first.is_empty() {
                eprintln!("invalid arguments");
            } else {
                eprintln!("{}", first.join(" "));
            }
            return ExitCode::from(2);
        }
    };
    let command = match cli.command {
        Command::Client(command) => return rotad::cli::main(command),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rotad: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rotad: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            init_tracing(args.log_format);
            if std::env::args()
                .any(|a| a == "--encryption-key" || a.starts_with("--encryption-key="))
            {
                tracing::warn!(
                    "--encryption-key on the command line is visible to every user of this \
                     machine in the process list; use ROTAD_ENCRYPTION_KEY or \
                     ROTAD_ENCRYPTION_KEY_FILE instead"
                );
            }
            let server = rotad::Server::start(&args).await?;
            tracing::info!(addr = %server.addr, backend = server.app.store.backend(), "rotad listening");
            server.run_until(shutdown_signal()).await?;
            tracing::info!("rotad stopped");
            Ok(())
        }
        Command::Bootstrap {
            organization,
            serve,
        } => {
            init_tracing(serve.log_format);
            let app = rotad::build_app(&serve).await?;
            let done = app
                .bootstrap(&organization)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let out = rotad::http::routes::auth::bootstrap_out(done);
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Migrate(args) => {
            init_tracing(args.log_format);
            rotad::build_app(&args).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&rotad::http::openapi())?);
            Ok(())
        }
        Command::Client(_) => unreachable!("client commands are dispatched in main"),
        Command::Healthcheck { url } => {
            let status_url = format!("{}/api/status", url.trim_end_matches('/'));
            let response = reqwest::Client::new()
                .get(&status_url)
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await?;
            if response.status().is_success() {
                println!("ok");
                Ok(())
            } else {
                anyhow::bail!("{status_url} answered {}", response.status())
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
