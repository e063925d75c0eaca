//! The real `rotad serve` binary as a child process, for kill -9 and multi-replica tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TestDb};
use crate::rotation_support::Rig;

pub struct Process {
    pub child: Child,
    pub base: String,
    /// stderr, line by line.
    pub lines: Receiver<String>,
}

impl Process {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts `rotad serve` on a free port of `db` with `key`, a 2 s lease, a 2 s dbt timeout and
/// `env` on top.
pub fn spawn_rotad(db: &TestDb, key: &str, env: &[(&str, &str)]) -> Process {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rotad"));
    cmd.arg("serve")
        .env("ROTAD_LISTEN", format!("127.0.0.1:{port}"))
        .env("ROTAD_DATABASE_URL", db.url())
        .env("ROTAD_ENCRYPTION_KEY", key)
        .env("ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS", "true")
        .env("ROTAD_ROTATION_LEASE", "2s")
        // A short request timeout keeps the late-create window (2 x timeout + 5 s) short.
        .env("ROTAD_DBT_REQUEST_TIMEOUT", "2s")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().expect("spawn rotad");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
        lines,
    }
}

pub async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/api/status"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rotad did not start");
}

/// Bootstraps the server at `base` and builds a rig on it: an emulator, a project and a
/// `dbt` connection.
pub async fn attach(db: TestDb, key: &str, base: &str) -> Rig {
    let mut app = TestApp {
        server: None,
        args: TestApp::args(&db, key),
        db,
        key: key.to_string(),
        base: base.to_string(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        token: String::new(),
        org_id: String::new(),
    };
    app.bootstrap("replicas").await;
    Rig::on(app).await
}
