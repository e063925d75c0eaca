//! `rotad run --project P --env E [--path /] -- COMMAND ARGS…`: runs COMMAND with the folder's
//! secrets added to its environment (overriding variables of the same name). Nothing is
//! written anywhere. stdin, stdout and stderr are the child's; SIGTERM and SIGHUP are forwarded
//! to it (SIGINT and SIGQUIT from a terminal reach it directly); rotad exits with the child's
//! exit code, or 128+N when it was killed by signal N.

use clap::Args;

use super::secrets::list;
use super::{Client, Conn, Failure, FolderRef, Res};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(flatten)]
    at: FolderRef,
    /// The command and its arguments (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

pub async fn run(args: RunArgs) -> Res<u8> {
    let client = Client::connect(&args.conn).await?;
    let answer = list(&client, &args.at).await?;
    let secrets: Vec<(String, String)> = answer["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let key = s["secretKey"].as_str()?;
            let value = s["secretValue"].as_str()?;
            (!key.is_empty() && !key.contains('=') && !key.contains('\0'))
                .then(|| (key.to_string(), value.to_string()))
        })
        .collect();
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Failure::usage("no command given: rotad run … -- COMMAND ARGS…"))?;
    // Handlers first, so a signal arriving as the child starts is not fatal to rotad.
    let signals = Signals::new()?;
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .envs(secrets)
        .spawn()
        .map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            Failure {
                code,
                status: 0,
                message: format!("cannot run {program}: {e}"),
            }
        })?;
    let status = signals.wait_forwarding(&mut child).await?;
    Ok(exit_code(status))
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Res<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let fail = |e: std::io::Error| Failure::usage(format!("cannot watch signals: {e}"));
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(fail)?,
            hup: signal(SignalKind::hangup()).map_err(fail)?,
            // Handled (so they do not kill rotad) but not forwarded: the terminal sends them
            // to the child too.
            int: signal(SignalKind::interrupt()).map_err(fail)?,
            quit: signal(SignalKind::quit()).map_err(fail)?,
        })
    }

    async fn wait_forwarding(
        mut self,
        child: &mut tokio::process::Child,
    ) -> Res<std::process::ExitStatus> {
        let pid = child
            .id()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32));
        let forward = |sig: rustix::process::Signal| {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, sig);
            }
        };
        loop {
            tokio::select! {
                status = child.wait() => {
                    return status.map_err(|e| Failure::usage(format!("cannot wait for the command: {e}")));
                }
                _ = self.term.recv() => forward(rustix::process::Signal::TERM),
                _ = self.hup.recv() => forward(rustix::process::Signal::HUP),
                _ = self.int.recv() => {}
                _ = self.quit.recv() => {}
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Res<Signals> {
        Ok(Signals)
    }

    async fn wait_forwarding(
        self,
        child: &mut tokio::process::Child,
    ) -> Res<std::process::ExitStatus> {
        child
            .wait()
            .await
            .map_err(|e| Failure::usage(format!("cannot wait for the command: {e}")))
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return code as u8;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return (128 + sig) as u8;
        }
    }
    1
}
