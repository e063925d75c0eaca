//! `rotad demo` finishes in seconds and leaves nothing behind.

use std::time::{Duration, Instant};

use crate::helpers::run_rotad;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_completes_and_cleans_up() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = tempfile::tempdir().expect("config");
    let started = Instant::now();
    let tmp_path = tmp.path().display().to_string();
    let out = run_rotad(
        &["demo"],
        &[("TMPDIR", tmp_path.as_str())],
        None,
        config.path(),
    )
    .await;
    let text = out.ok();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for step in 1..=8 {
        assert!(text.contains(&format!("[{step}/8]")), "{out:#?}");
    }
    assert!(text.contains("has state 2 (revoked)"), "{out:#?}");
    assert!(text.contains("(active, published)"), "{out:#?}");
    // Published tokens are shortened, never printed whole.
    assert!(text.contains("DBT_SERVICE_TOKEN = dbtc_") && text.contains('…'));
    assert!(
        !text.lines().any(|l| l
            .split_whitespace()
            .any(|w| w.starts_with("dbtc_") && !w.contains('…'))),
        "{out:#?}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("read").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
