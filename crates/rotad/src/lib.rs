//! rotad: a self-hostable secret-rotation server that speaks Infisical's HTTP API.

pub mod cli;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod metrics;
pub mod providers;
pub mod scheduler;
pub mod services;
pub mod store;
pub mod time;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ServeArgs;
use crate::crypto::RootKey;
use crate::services::{App, AppState, Keyring, Settings};

const FINGERPRINT_KEY: &str = "encryption_key_fingerprint";

/// Reads the root key from configuration. With SQLite and no key configured, a key file is
/// generated beside the database (mode 0600) on first start.
pub fn load_root_key(args: &ServeArgs) -> anyhow::Result<RootKey> {
    if let Some(text) = args
        .encryption_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
    {
        return RootKey::from_base64(text).map_err(|_| {
            anyhow::anyhow!("ROTAD_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        });
    }
    if let Some(path) = &args.encryption_key_file {
        check_private(
            path,
            "ROTAD_ENCRYPTION_KEY_FILE",
            args.allow_insecure_key_file,
        )?;
        return read_key_file(path, "ROTAD_ENCRYPTION_KEY_FILE");
    }
    if !args.is_sqlite() {
        bail!("ROTAD_ENCRYPTION_KEY or ROTAD_ENCRYPTION_KEY_FILE is required with PostgreSQL");
    }
    let path = sqlite_key_path(&args.database_url);
    if path.exists() {
        check_private(
            &path,
            "the generated key file",
            args.allow_insecure_key_file,
        )?;
        return read_key_file(&path, "the generated key file");
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        store::create_private_dir(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_private(&path, &RootKey::generate_base64())
        .with_context(|| format!("cannot write key file {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "no ROTAD_ENCRYPTION_KEY given: generated a key file beside the database; back it up, \
         the data cannot be read without it"
    );
    read_key_file(&path, "the generated key file")
}

/// Refuses a key file its group or others may read (docs/SECURITY.md, "Files"), unless
/// `ROTAD_ALLOW_INSECURE_KEY_FILE=true`.
#[cfg(unix)]
fn check_private(path: &Path, what: &str, allow: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("{what} {} cannot be read", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 && !allow {
        bail!(
            "{what} {} is readable by its group or others (mode {:o}); make it private \
             (chmod 600) or set ROTAD_ALLOW_INSECURE_KEY_FILE=true",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &str, _: bool) -> anyhow::Result<()> {
    Ok(())
}

fn read_key_file(path: &Path, what: &str) -> anyhow::Result<RootKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{what} {} cannot be read", path.display()))?;
    RootKey::from_base64(&text).map_err(|_| {
        anyhow::anyhow!(
            "{what} {} must hold base64 of exactly 32 bytes",
            path.display()
        )
    })
}

fn sqlite_key_path(url: &str) -> PathBuf {
    let file = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("rotad.db");
    let db = Path::new(file);
    db.with_extension("key")
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Opens the store, runs migrations and checks the key fingerprint.
pub async fn build_app(args: &ServeArgs) -> anyhow::Result<AppState> {
    let root = load_root_key(args)?;
    let store = store::connect(&args.database_url)
        .await
        .context("ROTAD_DATABASE_URL: cannot open the database")?;
    let fingerprint = root.fingerprint();
    store
        .set_meta_if_absent(FINGERPRINT_KEY, &fingerprint)
        .await?;
    let stored = store.get_meta(FINGERPRINT_KEY).await?;
    if stored.as_deref() != Some(fingerprint.as_str()) {
        bail!(
            "ROTAD_ENCRYPTION_KEY does not match the key this database was created with; \
             refusing to start (start with the original key)"
        );
    }
    let settings = Settings {
        allow_internal_ip_connections: args.allow_internal_ip_connections,
        rotation_time_unit: args.rotation_time_unit,
        rotation_max_attempts: args.rotation_max_attempts,
        lease_ms: i64::try_from(args.rotation_lease.as_millis()).unwrap_or(60_000),
        scheduler_poll_ms: i64::try_from(args.scheduler_poll_interval.as_millis()).unwrap_or(5_000),
        dbt_request_timeout: args.dbt_request_timeout,
        api_bootstrap: args.api_bootstrap(),
        request_timeout: args.request_timeout,
        header_read_timeout: args.header_read_timeout,
        shutdown_grace: args.shutdown_grace,
        trusted_proxies: args.trusted_proxies.0.clone(),
        public_url: args.public_url.clone(),
    };
    let keys = Arc::new(Keyring::new(root));
    let providers = services::connections::ConnectionProviders::new(
        store.clone(),
        keys.clone(),
        services::connections::client_options(&settings),
    );
    let engine = services::rotations::Engine::new(
        store.clone(),
        keys.clone(),
        Arc::new(providers),
        Arc::new(time::SystemClock),
        services::rotations::EngineSettings {
            rotation_time_unit: settings.rotation_time_unit,
            lease_ms: settings.lease_ms,
            scheduler_poll_ms: settings.scheduler_poll_ms,
            dbt_request_timeout: settings.dbt_request_timeout,
        },
    );
    let caches = services::cache::Caches::new(
        store.changes(),
        services::cache::CacheSettings {
            max_entries: args.cache_max_entries,
            max_bytes: u64::try_from(args.cache_max_bytes).unwrap_or(u64::MAX),
            ..Default::default()
        },
    );
    Ok(Arc::new(App {
        store,
        keys,
        settings,
        engine: Arc::new(engine),
        login_guard: Default::default(),
        caches,
        read_audit: services::read_audit::ReadAudit::new(args.audit_reads),
        patch_lanes: Default::default(),
    }))
}

/// A server running in this process (tests, `rotad serve`).
pub struct Server {
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `ROTAD_METRICS_LISTEN` is set.
    pub metrics_addr: Option<SocketAddr>,
    pub app: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    scheduler: JoinHandle<()>,
    read_audit: JoinHandle<()>,
}

impl Server {
    /// Builds the app and serves it on `args.listen` (port 0 picks a free port).
    pub async fn start(args: &ServeArgs) -> anyhow::Result<Server> {
        let app = build_app(args).await?;
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("ROTAD_LISTEN: cannot listen on {}", args.listen))?;
        let mut server = Self::serve(app, listener, args.scheduler_concurrency).await?;
        if let Some(addr) = args.metrics_listen {
            server.metrics_addr =
                Some(metrics::serve(server.app.clone(), addr, server.shutdown.clone()).await?);
        }
        Ok(server)
    }

    /// Serves `app` on `listener`, with the engine's upkeep and a scheduler running
    /// `concurrency` rotations at a time.
    pub async fn serve(
        app: AppState,
        listener: TcpListener,
        concurrency: usize,
    ) -> anyhow::Result<Server> {
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let service = http::service(app.clone());
        tokio::spawn(maintenance(app.clone(), shutdown.clone()));
        tokio::spawn(services::rotations::revoked::run(
            app.clone(),
            shutdown.clone(),
        ));
        let follower = app.clone();
        let until = shutdown.clone();
        tokio::spawn(async move { follower.store.follow_changes(until).await });
        // Answer only once other replicas' changes are heard (bounded: a listener that cannot
        // connect is retried in the background, and caches forget everything when it does).
        let following = app.store.changes();
        if tokio::time::timeout(
            std::time::Duration::from_secs(5),
            following.wait_following(),
        )
        .await
        .is_err()
        {
            tracing::warn!("not yet following other replicas' changes; starting anyway");
        }
        let read_audit = tokio::spawn(services::read_audit::run(app.clone(), shutdown.clone()));
        let scheduler = tokio::spawn(scheduler::run(app.clone(), concurrency, shutdown.clone()));
        let limits = http::serve::Limits {
            header_read_timeout: app.settings.header_read_timeout,
            shutdown_grace: app.settings.shutdown_grace,
        };
        let task = tokio::spawn(http::serve::serve(
            listener,
            service,
            limits,
            shutdown.clone(),
        ));
        Ok(Server {
            addr,
            metrics_addr: None,
            app,
            shutdown,
            task,
            scheduler,
            read_audit,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and claiming, lets in-flight requests and rotations finish (handing
    /// back what does not finish in time), and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let served = self.task.await?;
        if let Err(e) = self.scheduler.await {
            tracing::warn!(error = %e, "the scheduler task ended abnormally");
        }
        // Every request has been answered: the read events they queued are written now.
        if let Err(e) = self.read_audit.await {
            tracing::warn!(error = %e, "the audit writer ended abnormally");
        }
        self.app.flush_read_audit().await;
        // Rotations are over: what they saw revoked leaves the queue now.
        self.app.engine.flush_confirmed_revocations().await;
        served
    }

    /// Runs until `signal` resolves, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        signal.await;
        self.stop().await
    }
}

/// Background upkeep of the rotation engine: recovery of interrupted rotations at start and
/// every two seconds, and the revocation queue every second.
async fn maintenance(app: AppState, shutdown: CancellationToken) {
    let mut tick = 0u64;
    loop {
        if tick % 2 == 0 {
            if let Err(e) = app.engine.recover().await {
                tracing::warn!(error = %e, "rotation recovery failed; will retry");
            }
        } else {
            app.engine.work_revocations(None).await;
        }
        tick += 1;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
