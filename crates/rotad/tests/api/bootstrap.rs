//! Bootstrap (docs/SECURITY.md, "Bootstrap"): an exposed fresh instance cannot be claimed by its
//! first caller. `ROTAD_BOOTSTRAP=api|cli`, `api` by default only on loopback listeners.

use serde_json::json;

use crate::files::{serve, stop};
use crate::process::wait_ready;

async fn bootstrap_status(base: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/admin/bootstrap"))
        .json(&json!({"organization": "grabbed"}))
        .send()
        .await
        .expect("bootstrap");
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_all_interfaces_bootstraps_only_from_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/rotad.db", tmp.path().display());
    let port = crate::process::free_port();
    let (child, _) = serve(
        &[
            ("ROTAD_DATABASE_URL", url.clone()),
            ("ROTAD_LISTEN", format!("0.0.0.0:{port}")),
        ],
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let (status, body) = bootstrap_status(&base).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap_or_default()
        .contains("rotad bootstrap"));
    // Nothing was set up: the CLI still can.
    stop(child);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rotad"))
        .args(["bootstrap", "--organization", "owner"])
        .env("ROTAD_DATABASE_URL", &url)
        .output()
        .expect("rotad bootstrap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotad_bootstrap_cli_refuses_the_api_even_on_loopback() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/rotad.db", tmp.path().display());
    let (child, base) = serve(
        &[
            ("ROTAD_DATABASE_URL", url.clone()),
            ("ROTAD_BOOTSTRAP", "cli".to_string()),
        ],
        &[],
    );
    wait_ready(&base).await;
    assert_eq!(bootstrap_status(&base).await.0, 403);
    stop(child);
    // And `api` allows it on any listener (loopback here).
    let (child, base) = serve(
        &[
            ("ROTAD_DATABASE_URL", url),
            ("ROTAD_BOOTSTRAP", "api".to_string()),
        ],
        &[],
    );
    wait_ready(&base).await;
    assert_eq!(bootstrap_status(&base).await.0, 200);
    stop(child);
}
