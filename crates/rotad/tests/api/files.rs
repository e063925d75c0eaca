//! Files on disk (docs/SECURITY.md, "Files"): the data folder, the SQLite database and its WAL,
//! and the generated key are private to their owner; a key file others may read is refused at
//! start; a key given on the command line is warned about.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{free_port, wait_ready};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `rotad serve` on a free port with `env`, `args` after `serve`; returns the child and its base URL.
pub fn serve(env: &[(&str, String)], args: &[&str]) -> (std::process::Child, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rotad"));
    cmd.arg("serve")
        .args(args)
        .env("ROTAD_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("ROTAD_BOOTSTRAP")
        .env_remove("ROTAD_ENCRYPTION_KEY")
        .env_remove("ROTAD_ENCRYPTION_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (
        cmd.spawn().expect("spawn"),
        format!("http://127.0.0.1:{port}"),
    )
}

/// Waits for the child to exit; its status and stderr.
fn exited(mut child: std::process::Child) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "rotad did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

pub fn stop(mut child: std::process::Child) -> String {
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_private_and_a_readable_key_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("rotad-data");
    let url = format!("sqlite://{}/rotad.db", data.display());
    let (child, base) = serve(&[("ROTAD_DATABASE_URL", url.clone())], &[]);
    wait_ready(&base).await;
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("rotad.db")), 0o600, "the database");
    assert_eq!(mode(&data.join("rotad.db-wal")), 0o600, "its WAL");
    assert_eq!(mode(&data.join("rotad.key")), 0o600, "the generated key");
    stop(child);

    // A key file its group or others may read: refused, with the file and the fix named.
    let key = data.join("rotad.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (child, _) = serve(&[("ROTAD_DATABASE_URL", url.clone())], &[]);
    let (ok, stderr) = exited(child);
    assert!(!ok, "refused to start");
    assert!(
        stderr.contains("rotad.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    // The same for a key file given by ROTAD_ENCRYPTION_KEY_FILE, unless explicitly allowed.
    let (child, _) = serve(
        &[
            ("ROTAD_DATABASE_URL", url.clone()),
            ("ROTAD_ENCRYPTION_KEY_FILE", key.display().to_string()),
        ],
        &[],
    );
    assert!(!exited(child).0);
    let (child, base) = serve(
        &[
            ("ROTAD_DATABASE_URL", url),
            ("ROTAD_ALLOW_INSECURE_KEY_FILE", "true".to_string()),
        ],
        &[],
    );
    wait_ready(&base).await;
    stop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_on_the_command_line_is_warned_about() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/rotad.db", tmp.path().display());
    let key = rotad::crypto::RootKey::generate_base64();
    let (child, base) = serve(&[("ROTAD_DATABASE_URL", url)], &["--encryption-key", &key]);
    wait_ready(&base).await;
    let stderr = stop(child);
    assert!(stderr.contains("process list"), "{stderr}");
    assert!(!stderr.contains(&key), "the key itself is never printed");
}
