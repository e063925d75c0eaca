//! A PostgreSQL cluster that checks passwords (scram-sha-256), for the `postgres-credentials`
//! tests: the server on 5432 trusts every local login and cannot tell a wrong password.
//!
//! One cluster serves every test process: the first to need it runs `initdb` into
//! `$TMPDIR/rotad-scram-pg` and starts it on 127.0.0.1:55433 (under a lock directory); the
//! others, and later runs, reuse it. Stop it with `pg_ctl -D $TMPDIR/rotad-scram-pg stop`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const PORT: u16 = 55433;
/// The superuser's password (a test cluster's, nothing else's).
pub const ADMIN_PASSWORD: &str = "rotad-scram-admin";

/// Whether the cluster on `port` accepts connections. An open port is not enough: while the
/// postmaster starts (another test process holding the lock runs `pg_ctl start`), it listens
/// and refuses every login with "the database system is starting up".
fn up(port: u16) -> bool {
    Command::new(bin("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-t", "1", "-p", &port.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The newest installed server's binaries.
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

/// Runs a server tool as the `postgres` user when we are root (they refuse to run as root).
pub fn run(tool: &str, args: &[&str]) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let path = bin(tool);
    let status = if root {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&path)
            .args(args)
            .status()
    } else {
        Command::new(&path).args(args).status()
    }
    .expect("run a PostgreSQL tool");
    assert!(status.success(), "{tool} {args:?} failed");
}

pub fn chown_postgres(path: &std::path::Path) {
    let _ = Command::new("chown")
        .arg("postgres:postgres")
        .arg(path)
        .status();
}

/// Makes sure the cluster runs; returns its port.
pub fn cluster() -> u16 {
    start("rotad-scram-pg", PORT, &[], |_| {})
}

/// Makes sure the cluster `name` (under `$TMPDIR`) runs on `port`: initialised on first use
/// with the superuser's password, then `prepare`d (its data folder, before the first start;
/// it may write files the server reads), started with `settings` (`-c` options).
pub fn start(name: &str, port: u16, settings: &[&str], prepare: impl Fn(&std::path::Path)) -> u16 {
    if up(port) {
        return port;
    }
    let base = std::env::temp_dir();
    let data = base.join(name);
    let lock = base.join(format!("{name}.lock"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if up(port) {
            return port;
        }
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(_) => {
                // Another process starts it; a lock older than the deadline is stale.
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(120))
                    .unwrap_or(false);
                if stale {
                    let _ = std::fs::remove_dir(&lock);
                }
                assert!(
                    Instant::now() < deadline,
                    "the {name} cluster never came up"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    if !data.join("PG_VERSION").exists() {
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("cluster folder");
        chown_postgres(&data);
        let pwfile = base.join(format!("{name}.pw"));
        std::fs::write(&pwfile, ADMIN_PASSWORD).expect("password file");
        chown_postgres(&pwfile);
        let data_arg = data.to_string_lossy().to_string();
        let pw_arg = format!("--pwfile={}", pwfile.display());
        run(
            "initdb",
            &[
                "-D",
                &data_arg,
                "--auth=scram-sha-256",
                "--username=postgres",
                &pw_arg,
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        prepare(&data);
    }
    let data_arg = data.to_string_lossy().to_string();
    let log = data.join("server.log").to_string_lossy().to_string();
    let mut options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
        data.display()
    );
    for setting in settings {
        options.push_str(&format!(" -c {setting}"));
    }
    run(
        "pg_ctl",
        &["-D", &data_arg, "-l", &log, "-o", &options, "-w", "start"],
    );
    let _ = std::fs::remove_dir(&lock);
    assert!(up(port), "the {name} cluster does not accept connections");
    port
}
