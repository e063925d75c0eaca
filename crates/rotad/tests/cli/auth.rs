//! Connection settings, `login` with renewal, and the error contract (exit codes, one line).

use serde_json::Value;

use crate::helpers::{run_rotad, Env};

fn stored(env: &Env) -> Value {
    let text = std::fs::read_to_string(env.credentials_path()).expect("credentials file");
    serde_json::from_str(&text).expect("json")
}

fn store(env: &Env, value: &Value) {
    std::fs::write(env.credentials_path(), value.to_string()).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_commands_without_a_token() {
    let env = Env::spawn().await;
    let project = env.project("acme").await;
    let (client_id, secret) = env.identity(&project, 0).await;

    let login = env
        .run(
            &["login", "--addr", &env.base, "--client-id", &client_id],
            &[("ROTAD_CLIENT_SECRET", secret.as_str())],
            None,
        )
        .await;
    assert!(
        login.ok().contains(&format!("Logged in to {}", env.base)),
        "{login:#?}"
    );
    assert!(!login.stdout.contains(&secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.credentials_path())
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let file = stored(&env);
    assert_eq!(file["addr"], env.base.as_str());
    assert_eq!(file["clientId"], client_id.as_str());
    assert!(file["expiresAt"].as_i64().unwrap_or(0) > 0, "{file}");

    // No --addr, no --token: both from the stored login.
    let list = env
        .run(&["projects", "list", "--json"], &[], None)
        .await
        .json();
    assert_eq!(list["projects"][0]["id"], project.as_str());
    env.run(
        &[
            "secrets",
            "set",
            "A",
            "1",
            "--project",
            "acme",
            "--env",
            "dev",
        ],
        &[],
        None,
    )
    .await
    .ok();

    // flag > env > stored login.
    let bad_env = env
        .run(
            &["projects", "list"],
            &[("ROTAD_TOKEN", "not-a-token")],
            None,
        )
        .await;
    bad_env.fails(1);
    let flag = env
        .run(
            &["projects", "list", "--token", &env.token],
            &[("ROTAD_TOKEN", "not-a-token")],
            None,
        )
        .await;
    flag.ok();
    // The stored token is not sent to another server.
    let other = env
        .run(
            &["projects", "list", "--addr", "http://127.0.0.1:9"],
            &[],
            None,
        )
        .await;
    assert!(other.fails(2).contains("stored login is for"), "{other:#?}");

    // An expired token is replaced by logging in again with the stored client credentials.
    let mut file = stored(&env);
    let old_token = file["accessToken"].clone();
    file["expiresAt"] = Value::from(1);
    store(&env, &file);
    env.run(&["projects", "list"], &[], None).await.ok();
    let file = stored(&env);
    assert_ne!(file["accessToken"], old_token);
    assert!(file["expiresAt"].as_i64().unwrap_or(0) > 1);

    // Logout revokes the token and removes the file.
    let token = file["accessToken"].as_str().expect("token").to_string();
    env.run(&["logout"], &[], None).await.ok();
    assert!(!env.credentials_path().exists());
    let revoked = env
        .run(
            &["projects", "list", "--addr", &env.base, "--token", &token],
            &[],
            None,
        )
        .await;
    revoked.fails(1);
    let none = env.run(&["projects", "list"], &[], None).await;
    assert!(none.fails(2).contains("rotad login"), "{none:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_near_expiry_is_renewed() {
    let env = Env::spawn().await;
    let project = env.project("acme").await;
    let (client_id, secret) = env.identity(&project, 4).await;
    env.run(
        &["login", "--addr", &env.base, "--json"],
        &[
            ("ROTAD_CLIENT_ID", client_id.as_str()),
            ("ROTAD_CLIENT_SECRET", secret.as_str()),
        ],
        None,
    )
    .await
    .json();
    let before = stored(&env);
    // Within the renewal window (half the 4 s TTL) the token is renewed in place.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    env.run(&["projects", "get", "acme"], &[], None).await.ok();
    let after = stored(&env);
    assert_eq!(
        after["accessToken"], before["accessToken"],
        "renewed, not replaced"
    );
    assert!(
        after["expiresAt"].as_i64() > before["expiresAt"].as_i64(),
        "{before} {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_with_documented_exit_codes() {
    let mut env = Env::spawn().await;
    // Wrong token: the server's message, exit 1.
    let wrong = env
        .run(
            &["projects", "list"],
            &[("ROTAD_ADDR", env.base.as_str()), ("ROTAD_TOKEN", "nope")],
            None,
        )
        .await;
    let line = wrong.fails(1);
    assert!(
        line.starts_with("rotad: ") && line.contains("HTTP 401"),
        "{line}"
    );
    assert!(
        line.contains("Failed to authenticate") || line.contains("token"),
        "{line}"
    );
    // Bad login credentials: exit 1.
    let login = env
        .run(
            &[
                "login",
                "--addr",
                &env.base,
                "--client-id",
                "x",
                "--client-secret",
                "y",
            ],
            &[],
            None,
        )
        .await;
    login.fails(1);
    // Usage errors: exit 2.
    env.rotad(&["projects", "frobnicate"]).await.fails(2);
    env.run(
        &["projects", "list", "--addr", "not a url", "--token", "t"],
        &[],
        None,
    )
    .await
    .fails(2);
    // Help documents the exit codes.
    let help = env.run(&["--help"], &[], None).await;
    assert!(
        help.ok().contains("Exit codes:")
            && help.stdout.contains("3  the server cannot be reached")
    );
    // Unreachable server: exit 3, one line.
    let base = env.base.clone();
    env.stop().await;
    let down = env.rotad(&["projects", "list"]).await;
    let line = down.fails(3);
    assert!(
        line.contains(&base) && line.contains("cannot reach"),
        "{line}"
    );
    let config = tempfile::tempdir().expect("dir");
    let refused = run_rotad(
        &[
            "projects",
            "list",
            "--addr",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ],
        &[],
        None,
        config.path(),
    )
    .await;
    refused.fails(3);
}
