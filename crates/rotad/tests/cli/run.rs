//! `rotad run`: a rotated token in the child's environment, and the child's exit code.

use crate::helpers::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_passes_the_rotated_token_and_the_exit_code() {
    let env = Env::spawn().await;
    env.project("acme").await;
    env.connection("dbt-main").await;
    let rotation = env.rotation("acme", "dbt-main", "ci-token").await;
    env.rotad(&["rotations", "rotate", &rotation]).await.ok();
    let creds = env
        .rotad(&["rotations", "credentials", &rotation, "--json"])
        .await
        .json();
    let active = creds["activeIndex"].as_u64().expect("index") as usize;
    let token = creds["generatedCredentials"][active]["serviceToken"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(env
        .emulator
        .live_tokens()
        .iter()
        .any(|t| t.token_string == token));

    let at = ["run", "--project", "acme", "--env", "prod", "--"];
    let test = format!("test \"$DBT_SERVICE_TOKEN\" = '{token}'");
    let out = env.rotad(&[&at[..], &["sh", "-c", &test]].concat()).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let printed = env
        .rotad(&[&at[..], &["sh", "-c", "printf %s \"$DBT_SERVICE_TOKEN\""]].concat())
        .await;
    assert_eq!(printed.ok(), token);
    // Existing variables are kept; stdin is the child's.
    let envs = [
        ("ROTAD_ADDR", env.base.as_str()),
        ("ROTAD_TOKEN", env.token.as_str()),
        ("KEEP_ME", "kept"),
    ];
    let piped = env
        .run(
            &[
                &at[..],
                &[
                    "sh",
                    "-c",
                    "read line; printf '%s %s' \"$line\" \"$KEEP_ME\"",
                ],
            ]
            .concat(),
            &envs,
            Some("hello\n"),
        )
        .await;
    assert_eq!(piped.ok(), "hello kept");

    // The child's exit code, signals as 128+N, a missing command as 127.
    let seven = env
        .rotad(&[&at[..], &["sh", "-c", "echo oops >&2; exit 7"]].concat())
        .await;
    assert_eq!(seven.code, 7, "{seven:#?}");
    assert_eq!(seven.stderr, "oops\n");
    let killed = env
        .rotad(&[&at[..], &["sh", "-c", "kill -TERM $$"]].concat())
        .await;
    assert_eq!(killed.code, 128 + 15, "{killed:#?}");
    let missing = env
        .rotad(&[&at[..], &["no-such-command-xyz"]].concat())
        .await;
    assert_eq!(missing.code, 127, "{missing:#?}");
    // A server error before the command runs: exit 1, the command does not run.
    let wrong = env
        .rotad(&[
            "run",
            "--project",
            "acme",
            "--env",
            "nope",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .await;
    wrong.fails(1);
}

/// SIGTERM to `rotad run` (as from a container runtime) reaches the child, and rotad exits with
/// the child's code.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_forwards_sigterm_to_the_child() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let env = Env::spawn().await;
    env.project("acme").await;
    let (base, token) = (env.base.clone(), env.token.clone());
    let config = env.config.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rotad"))
            .args(["run", "--project", "acme", "--env", "dev", "--", "sh", "-c"])
            .arg("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
            .env("ROTAD_ADDR", base)
            .env("ROTAD_TOKEN", token)
            .env("XDG_CONFIG_HOME", &config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("rotad starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("ready line");
        assert_eq!(line, "ready\n");
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest");
        (child.wait().expect("wait").code(), rest)
    })
    .await
    .expect("join");
    assert_eq!(out, (Some(42), "got-term\n".to_string()));
}
