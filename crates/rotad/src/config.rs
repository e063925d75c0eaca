//! The configuration contract (README, "Configuration"): every `ROTAD_*` variable, parsed and checked once at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Unit in which `rotationInterval` is counted. `minute` and `second` exist for tests and demos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimeUnit {
    Day,
    Minute,
    Second,
}

/// Who may bootstrap an empty instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BootstrapMode {
    /// `POST /api/v1/admin/bootstrap`, and `rotad bootstrap`.
    Api,
    /// `rotad bootstrap` on the server only.
    Cli,
}

/// How read events (secret and rotation reads) reach the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditReads {
    /// Buffered in memory and written in batches (every 50 ms or 1,000 events, and at
    /// shutdown): a crash can lose up to one batch of read events.
    Batched,
    /// Written by the request that reads, before it answers.
    Sync,
    /// Not recorded. Writes are always recorded.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Flags of `rotad serve`; each mirrors a `ROTAD_*` variable. `Debug` redacts the encryption
/// key and any password in the database URL.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// API address.
    #[arg(long, env = "ROTAD_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_addr("ROTAD_LISTEN"))]
    pub listen: SocketAddr,

    /// `sqlite://…` or `postgres://…`.
    #[arg(long, env = "ROTAD_DATABASE_URL", default_value = "sqlite://rotad-data/rotad.db", value_parser = parse_database_url)]
    pub database_url: String,

    /// Base64 of 32 random bytes.
    #[arg(long, env = "ROTAD_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<String>,

    /// File holding the base64 key.
    #[arg(long, env = "ROTAD_ENCRYPTION_KEY_FILE")]
    pub encryption_key_file: Option<PathBuf>,

    /// Who may bootstrap an empty instance: `api` or `cli` (`rotad bootstrap` only). Default:
    /// `api` when listening on loopback, `cli` otherwise, so an exposed fresh instance cannot
    /// be claimed by its first caller.
    #[arg(long, env = "ROTAD_BOOTSTRAP", value_enum)]
    pub bootstrap: Option<BootstrapMode>,

    /// Start even when the key file is readable by its group or by others.
    #[arg(long, env = "ROTAD_ALLOW_INSECURE_KEY_FILE", default_value = "false", value_parser = parse_bool("ROTAD_ALLOW_INSECURE_KEY_FILE"))]
    pub allow_insecure_key_file: bool,

    /// Allow loopback/private hosts and `http://` for dbt instance and webhook URLs.
    #[arg(long, env = "ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS", default_value = "false", value_parser = parse_bool("ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS"))]
    pub allow_internal_ip_connections: bool,

    /// `day`, `minute` or `second`.
    #[arg(
        long,
        env = "ROTAD_ROTATION_TIME_UNIT",
        default_value = "day",
        value_enum
    )]
    pub rotation_time_unit: TimeUnit,

    /// Scheduler tick, e.g. `5s`, `500ms`, `1m`.
    #[arg(long, env = "ROTAD_SCHEDULER_POLL_INTERVAL", default_value = "5s", value_parser = parse_duration("ROTAD_SCHEDULER_POLL_INTERVAL"))]
    pub scheduler_poll_interval: Duration,

    /// Attempts per failure episode.
    #[arg(long, env = "ROTAD_ROTATION_MAX_ATTEMPTS", default_value = "5", value_parser = parse_attempts)]
    pub rotation_max_attempts: u32,

    /// Rotations one replica's scheduler runs at the same time.
    #[arg(long, env = "ROTAD_SCHEDULER_CONCURRENCY", default_value = "32", value_parser = parse_concurrency)]
    pub scheduler_concurrency: usize,

    /// How long a rotation executor's lease lasts; a crashed executor's rotations are taken
    /// over after it.
    #[arg(long, env = "ROTAD_ROTATION_LEASE", default_value = "60s", value_parser = parse_duration("ROTAD_ROTATION_LEASE"))]
    pub rotation_lease: Duration,

    /// Time allowed for one dbt Cloud API request (connection and answer), e.g. `15s`.
    #[arg(long, env = "ROTAD_DBT_REQUEST_TIMEOUT", default_value = "15s", value_parser = parse_duration("ROTAD_DBT_REQUEST_TIMEOUT"))]
    pub dbt_request_timeout: Duration,

    /// How long a client may take to send a request's headers before its connection is closed.
    #[arg(long, env = "ROTAD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration("ROTAD_HEADER_READ_TIMEOUT"))]
    pub header_read_timeout: Duration,

    /// How long one request (its body included) may take before it is answered 408; a rotation
    /// it started goes on.
    #[arg(long, env = "ROTAD_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration("ROTAD_REQUEST_TIMEOUT"))]
    pub request_timeout: Duration,

    /// On SIGTERM, how long in-flight requests and rotations may take before the rest is
    /// handed back and the process exits.
    #[arg(long, env = "ROTAD_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration("ROTAD_SHUTDOWN_GRACE"))]
    pub shutdown_grace: Duration,

    /// Reverse proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For`
    /// names the client. Empty: the socket peer is the client, and the header is ignored.
    #[arg(long, env = "ROTAD_TRUSTED_PROXIES", default_value = "", value_parser = parse_proxies)]
    pub trusted_proxies: Proxies,

    /// The address browsers reach the dashboard at, e.g. `https://rotad.example.com` (behind a
    /// TLS-terminating proxy). When it is https the session cookie is `Secure`; its origin is
    /// also accepted in the `Origin` of dashboard form posts.
    #[arg(long, env = "ROTAD_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// How read events reach the audit log: `batched`, `sync` or `off`.
    #[arg(long, env = "ROTAD_AUDIT_READS", default_value = "batched", value_enum)]
    pub audit_reads: AuditReads,

    /// Entries the read caches may hold, all together.
    #[arg(long, env = "ROTAD_CACHE_MAX_ENTRIES", default_value = "100000", value_parser = parse_count("ROTAD_CACHE_MAX_ENTRIES"))]
    pub cache_max_entries: usize,

    /// Bytes the read caches may hold, all together (estimated), e.g. `67108864`.
    #[arg(long, env = "ROTAD_CACHE_MAX_BYTES", default_value = "67108864", value_parser = parse_count("ROTAD_CACHE_MAX_BYTES"))]
    pub cache_max_bytes: usize,

    /// Prometheus `/metrics` address.
    #[arg(long, env = "ROTAD_METRICS_LISTEN", value_parser = parse_addr("ROTAD_METRICS_LISTEN"))]
    pub metrics_listen: Option<SocketAddr>,

    /// `pretty` or `json`; level from `RUST_LOG`.
    #[arg(long, env = "ROTAD_LOG_FORMAT", default_value = "pretty", value_enum)]
    pub log_format: LogFormat,
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("database_url", &redacted_database_url(&self.database_url))
            .field(
                "encryption_key",
                &self
                    .encryption_key
                    .as_ref()
                    .map(|_| format_args!("[redacted]")),
            )
            .field("encryption_key_file", &self.encryption_key_file)
            .field("bootstrap", &self.bootstrap)
            .field("allow_insecure_key_file", &self.allow_insecure_key_file)
            .field(
                "allow_internal_ip_connections",
                &self.allow_internal_ip_connections,
            )
            .field("rotation_time_unit", &self.rotation_time_unit)
            .field("scheduler_poll_interval", &self.scheduler_poll_interval)
            .field("rotation_max_attempts", &self.rotation_max_attempts)
            .field("scheduler_concurrency", &self.scheduler_concurrency)
            .field("rotation_lease", &self.rotation_lease)
            .field("dbt_request_timeout", &self.dbt_request_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("public_url", &self.public_url)
            .field("audit_reads", &self.audit_reads)
            .field("cache_max_entries", &self.cache_max_entries)
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// The database URL with its password (in the userinfo or a `password` query parameter)
/// replaced by `redacted`; `[redacted]` when it does not parse.
fn redacted_database_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "[redacted]".to_string();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("redacted"));
    }
    if url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "redacted".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

impl ServeArgs {
    /// Defaults for an in-process server (tests): loopback on port 0, no key given.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            encryption_key: None,
            encryption_key_file: None,
            bootstrap: None,
            allow_insecure_key_file: false,
            allow_internal_ip_connections: false,
            rotation_time_unit: TimeUnit::Day,
            scheduler_poll_interval: Duration::from_secs(5),
            rotation_max_attempts: 5,
            scheduler_concurrency: 32,
            rotation_lease: Duration::from_secs(60),
            dbt_request_timeout: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(20),
            trusted_proxies: Proxies::default(),
            public_url: None,
            audit_reads: AuditReads::Batched,
            cache_max_entries: 100_000,
            cache_max_bytes: 64 * 1024 * 1024,
            metrics_listen: None,
            log_format: LogFormat::Pretty,
        }
    }

    /// Whether `POST /api/v1/admin/bootstrap` may set up an empty instance.
    pub fn api_bootstrap(&self) -> bool {
        match self.bootstrap {
            Some(BootstrapMode::Api) => true,
            Some(BootstrapMode::Cli) => false,
            None => self.listen.ip().is_loopback(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn parse_addr(var: &'static str) -> impl Fn(&str) -> Result<SocketAddr, String> + Clone {
    move |s| {
        s.parse()
            .map_err(|_| format!("{var} must be an address like 127.0.0.1:8080, got {s:?}"))
    }
}

fn parse_bool(var: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone {
    move |s| match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(format!("{var} must be true or false, got {s:?}")),
    }
}

/// The trusted reverse proxies, as addresses or CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies(pub Vec<String>);

fn parse_proxies(s: &str) -> Result<Proxies, String> {
    let ranges: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    for range in &ranges {
        if !crate::services::identities::is_range(range) {
            return Err(format!(
                "ROTAD_TRUSTED_PROXIES must list addresses or CIDR blocks, got {range:?}"
            ));
        }
    }
    Ok(Proxies(ranges))
}

fn parse_count(var: &'static str) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s| match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{var} must be a whole number of at least 1, got {s:?}"
        )),
    }
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "ROTAD_SCHEDULER_CONCURRENCY must be a whole number from 1 to 1024, got {s:?}"
        )),
    }
}

fn parse_attempts(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "ROTAD_ROTATION_MAX_ATTEMPTS must be a whole number from 1 to 100, got {s:?}"
        )),
    }
}

/// An `http://` or `https://` origin (scheme, host, optional port), without a path.
fn parse_public_url(s: &str) -> Result<String, String> {
    let bad = || {
        format!("ROTAD_PUBLIC_URL must be an http:// or https:// origin such as https://rotad.example.com, got {s:?}")
    };
    let url = url::Url::parse(s.trim()).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_database_url(s: &str) -> Result<String, String> {
    if s.starts_with("sqlite:") || s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err("ROTAD_DATABASE_URL must start with sqlite:// or postgres://".to_string())
    }
}

fn parse_duration(var: &'static str) -> impl Fn(&str) -> Result<Duration, String> + Clone {
    move |s| {
        duration_from_str(s).ok_or_else(|| {
            format!("{var} must be a positive duration like 5s, 500ms or 1m, got {s:?}")
        })
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn duration_from_str(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_http_origins() {
        assert_eq!(
            parse_public_url("https://rotad.example.com/").as_deref(),
            Ok("https://rotad.example.com")
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for bad in [
            "ftp://x.example",
            "https://x.example/app",
            "https://u:p@x.example",
            "x.example",
            "https://x.example/?a=1",
        ] {
            let e = parse_public_url(bad).expect_err(bad);
            assert!(e.starts_with("ROTAD_PUBLIC_URL must be"), "{e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_from_str("5s"), Some(Duration::from_secs(5)));
        assert_eq!(duration_from_str("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(duration_from_str("2m"), Some(Duration::from_secs(120)));
        assert_eq!(duration_from_str("7"), Some(Duration::from_secs(7)));
        assert_eq!(duration_from_str("0s"), None);
        assert_eq!(duration_from_str("5x"), None);
        assert_eq!(duration_from_str("s"), None);
    }

    #[test]
    fn bools_and_attempts() {
        let b = parse_bool("X");
        assert_eq!(b("TRUE"), Ok(true));
        assert!(b("maybe").is_err_and(|e| e.contains('X')));
        assert!(parse_attempts("0").is_err());
        assert_eq!(parse_attempts("3"), Ok(3));
        assert!(parse_database_url("mysql://x").is_err());
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::ServeArgs;

    #[test]
    fn debug_redacts_the_key_and_the_database_password() {
        let mut args =
            ServeArgs::for_database("postgres://rotad:KnownSecretPassword@db:5432/rotad");
        args.encryption_key = Some("KnownSecretRootKeyBase64".to_string());
        let shown = format!("{args:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(shown.contains("db:5432/rotad"), "{shown}");
        let query = format!(
            "{:?}",
            ServeArgs::for_database("postgres://db/rotad?user=rotad&password=KnownSecretPw")
        );
        assert!(
            !query.contains("KnownSecret") && query.contains("user=rotad"),
            "{query}"
        );
        let plain = format!(
            "{:?}",
            ServeArgs::for_database("sqlite://rotad-data/rotad.db")
        );
        assert!(plain.contains("sqlite://rotad-data/rotad.db"), "{plain}");
    }
}
