//! The `rotad` command line as an API client: the operator's tool (projects, folders, secrets,
//! connections, rotations), the consumer's tool (`secrets get`, `run`) and a first-run `demo`.
//!
//! Every command talks to a server over HTTP, like any other client; nothing here touches the
//! store. Connection settings come from `--addr`/`--token`, then `ROTAD_ADDR`/`ROTAD_TOKEN`, then
//! the login stored by `rotad login`. Every command prints a table or text for people and, with
//! `--json`, the server's JSON for scripts. Errors are one line on stderr; exit codes are
//! [`EXIT_CODES_HELP`].

pub mod client;
mod connections;
pub mod creds;
mod demo;
mod folders;
mod output;
mod progress;
mod projects;
mod rotations;
mod run;
mod secrets;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use client::Client;

/// Shown at the end of `rotad --help`.
pub const EXIT_CODES_HELP: &str = "\
Client commands read the server address from --addr, ROTAD_ADDR or the stored login
(default http://127.0.0.1:8080) and the token from --token, ROTAD_TOKEN or `rotad login`.

Exit codes:
  0  success
  1  the server refused the request (4xx/5xx); its message is printed on one line
  2  usage or configuration error (bad flags, no token, unreadable credentials file)
  3  the server cannot be reached
  `rotad run` exits with the command's own code (128+N when it is killed by signal N).";

/// A failed command: what to print (one line) and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    /// The HTTP status when the server answered; 0 otherwise.
    pub status: u16,
    pub message: String,
}

pub type Res<T> = Result<T, Failure>;

impl Failure {
    /// The server (or the command, on the server's data) said no.
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(1, message)
    }
    /// The server answered `status` (4xx/5xx).
    pub fn http(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            ..Self::new(1, message)
        }
    }
    /// Bad flags or configuration.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(2, message)
    }
    /// The server cannot be reached.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(3, message)
    }
    fn new(code: u8, message: impl Into<String>) -> Self {
        let message: String = message.into();
        // One line, whatever the source said.
        let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
        Self {
            code,
            status: 0,
            message,
        }
    }
}

/// Where and as whom to connect, and how to print. Accepted anywhere after the command group.
/// `Debug` redacts the token.
#[derive(Clone, Default, Args)]
pub struct Conn {
    /// Server URL [default: the stored login's, else http://127.0.0.1:8080].
    #[arg(long, env = "ROTAD_ADDR", global = true, value_name = "URL")]
    pub addr: Option<String>,
    /// Access token (overrides the stored login).
    #[arg(
        long,
        env = "ROTAD_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the server's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("addr", &self.addr)
            .field(
                "token",
                &self.token.as_ref().map(|_| format_args!("[redacted]")),
            )
            .field("json", &self.json)
            .finish()
    }
}

/// The client subcommands of `rotad`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Log in with a universal-auth client id and secret; the token is stored and renewed.
    Login(creds::LoginArgs),
    /// Revoke and forget the stored login.
    Logout(creds::LogoutArgs),
    /// Projects and their environments.
    Projects(projects::ProjectsArgs),
    /// Folders of a project's environment.
    Folders(folders::FoldersArgs),
    /// Secrets of a folder.
    Secrets(secrets::SecretsArgs),
    /// dbt Cloud app connections.
    Connections(connections::ConnectionsArgs),
    /// dbt service-token rotations.
    Rotations(rotations::RotationsArgs),
    /// Run a command with a folder's secrets added to its environment.
    Run(run::RunArgs),
    /// Start a throw-away server and dbt Cloud emulator and show two rotations.
    Demo(demo::DemoArgs),
}

/// Runs a client command and turns its outcome into the documented exit code.
pub fn main(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rotad: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(dispatch(command));
    // Do not wait for lingering background tasks (demo servers are stopped explicitly).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("rotad: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn dispatch(command: ClientCommand) -> Res<u8> {
    match command {
        ClientCommand::Login(a) => creds::login(a).await.map(|()| 0),
        ClientCommand::Logout(a) => creds::logout(a).await.map(|()| 0),
        ClientCommand::Projects(a) => projects::run(a).await.map(|()| 0),
        ClientCommand::Folders(a) => folders::run(a).await.map(|()| 0),
        ClientCommand::Secrets(a) => secrets::run(a).await.map(|()| 0),
        ClientCommand::Connections(a) => connections::run(a).await.map(|()| 0),
        ClientCommand::Rotations(a) => rotations::run(a).await.map(|()| 0),
        ClientCommand::Run(a) => run::run(a).await,
        ClientCommand::Demo(a) => demo::run(a).await.map(|()| 0),
    }
}

/// Where a folder is: `--project` (id, slug or name), `--env`, `--path`.
#[derive(Debug, Clone, Args)]
pub struct FolderRef {
    /// Project id, slug or name.
    #[arg(long, env = "ROTAD_PROJECT")]
    pub project: String,
    /// Environment slug (dev, staging, prod…).
    #[arg(long = "env", env = "ROTAD_ENV", value_name = "SLUG")]
    pub environment: String,
    /// Folder path.
    #[arg(long, default_value = "/")]
    pub path: String,
}

#[cfg(test)]
mod redaction_tests {
    use super::Conn;

    #[test]
    fn debug_redacts_the_token() {
        let conn = Conn {
            addr: Some("http://127.0.0.1:8080".to_string()),
            token: Some("eyJKnownSecretAccessToken".to_string()),
            json: true,
        };
        let shown = format!("{conn:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("127.0.0.1:8080"),
            "{shown}"
        );
    }
}
