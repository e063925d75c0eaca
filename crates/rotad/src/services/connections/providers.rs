//! Rotation providers built from stored connections: the [`ProviderFactory`] the engine uses
//! (docs/ARCHITECTURE.md, "Layers").
//!
//! A dbt client (its checked and pinned addresses, its HTTP connection pool) is built once per
//! connection version and reused by every rotation, revocation and sweep on that connection
//! until the connection is edited (its version changes), the client ages out, or the bounded
//! cache drops it for more recently used ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dbt_client::{ClientOptions, DbtClient};

use super::model::{dbt_error, APP_DBT, APP_MYSQL, APP_POSTGRES};
use super::open_credentials;
use super::sql::open_sql_credentials;
use crate::providers::dbt::{DbtParameters, DbtProvider};
use crate::providers::mysql::MySqlProvider;
use crate::providers::postgres::PgProvider;
use crate::providers::sql::{reach, Reach, SqlConnection, SqlParameters};
use crate::providers::{FailureKind, ProviderError, ProviderFactory, RotationProvider};
use crate::services::keyring::{org_scope, Keyring};
use crate::store::Store;

/// Connections whose clients are kept; the least recently used goes first.
const CACHED_CLIENTS: usize = 256;
/// How long one client serves. Its host was resolved and checked (and the addresses pinned)
/// when it was built, so this is how soon a changed DNS answer is followed.
const CLIENT_MAX_AGE: Duration = Duration::from_secs(300);

/// Opens a connection's sealed credentials and connects a dbt client with them.
pub struct ConnectionProviders {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
    options: ClientOptions,
    clients: Mutex<ClientCache>,
}

impl ConnectionProviders {
    pub fn new(store: Arc<dyn Store>, keys: Arc<Keyring>, options: ClientOptions) -> Self {
        Self {
            store,
            keys,
            options,
            clients: Mutex::default(),
        }
    }

    fn cached(&self, connection_id: &str, version: i64) -> Option<Built> {
        self.clients
            .lock()
            .ok()?
            .get(connection_id, version, Instant::now())
    }

    /// The client of the connection as stored now: read, opened and connected unless the
    /// cache holds one for its version.
    async fn client(&self, connection_id: &str) -> Result<Built, ProviderError> {
        let row = self
            .store
            .get_connection(connection_id)
            .await
            .map_err(|e| failure(format!("Could not load the app connection: {e}")))?
            .ok_or_else(|| {
                failure(format!(
                    "Could not find App Connection with ID {connection_id}"
                ))
            })?;
        if let Some(client) = self.cached(connection_id, row.version) {
            return Ok(client);
        }
        let key = self
            .keys
            .key_for(self.store.as_ref(), &org_scope(&row.org_id))
            .await
            .map_err(|e| failure(e.to_string()))?;
        // One arm per app (docs/ARCHITECTURE.md, "Providers").
        let client = match row.app.as_str() {
            APP_DBT => {
                let credentials =
                    open_credentials(&key, &row).map_err(|e| failure(e.to_string()))?;
                Built::Dbt(
                    DbtClient::connect(
                        &credentials.instance_url,
                        &credentials.account_id,
                        &credentials.api_token,
                        self.options.clone(),
                    )
                    .await
                    .map_err(|e| failure(dbt_error("Failed to connect to DBT", &e).to_string()))?,
                )
            }
            app @ (APP_MYSQL | APP_POSTGRES) => {
                let credentials =
                    open_sql_credentials(&key, &row).map_err(|e| failure(e.to_string()))?;
                let reach = reach(
                    &credentials,
                    self.options.allow_internal,
                    self.options.request_timeout,
                )
                .await?;
                let sql = Arc::new((credentials, reach));
                if app == APP_MYSQL {
                    Built::MySql(sql)
                } else {
                    Built::Postgres(sql)
                }
            }
            other => return Err(failure(format!("Unknown app connection type \"{other}\""))),
        };
        if let Ok(mut clients) = self.clients.lock() {
            clients.put(connection_id, row.version, client.clone(), Instant::now());
        }
        Ok(client)
    }
}

fn failure(message: String) -> ProviderError {
    ProviderError {
        message,
        ambiguous: false,
        kind: FailureKind::Other,
    }
}

#[async_trait]
impl ProviderFactory for ConnectionProviders {
    async fn provider(
        &self,
        connection_id: &str,
        parameters: Option<&str>,
    ) -> Result<Box<dyn RotationProvider>, ProviderError> {
        self.provider_at(connection_id, None, parameters).await
    }

    async fn provider_at(
        &self,
        connection_id: &str,
        version: Option<i64>,
        parameters: Option<&str>,
    ) -> Result<Box<dyn RotationProvider>, ProviderError> {
        let client = match version.and_then(|v| self.cached(connection_id, v)) {
            Some(client) => client,
            None => self.client(connection_id).await?,
        };
        let unreadable =
            |e: serde_json::Error| failure(format!("Unreadable rotation parameters: {e}"));
        let provider: Box<dyn RotationProvider> = match client {
            Built::Dbt(client) => {
                let parameters = match parameters {
                    Some(text) => serde_json::from_str(text).map_err(unreadable)?,
                    None => DbtParameters {
                        token_name: String::new(),
                        permission_grants: Vec::new(),
                    },
                };
                Box::new(DbtProvider::new(client, &parameters))
            }
            Built::MySql(sql) => {
                let parameters = parameters
                    .map(serde_json::from_str::<SqlParameters>)
                    .transpose()
                    .map_err(unreadable)?;
                Box::new(MySqlProvider::new(sql.0.clone(), sql.1.clone(), parameters))
            }
            Built::Postgres(sql) => {
                let parameters = parameters
                    .map(serde_json::from_str::<SqlParameters>)
                    .transpose()
                    .map_err(unreadable)?;
                Box::new(PgProvider::new(sql.0.clone(), sql.1.clone(), parameters))
            }
        };
        Ok(provider)
    }

    fn clients_built(&self) -> u64 {
        self.clients.lock().map(|c| c.built).unwrap_or(0)
    }
}

/// What a provider is built from: a dbt client, or a database's checked address and login.
#[derive(Clone)]
enum Built {
    Dbt(DbtClient),
    MySql(Arc<(SqlConnection, Reach)>),
    Postgres(Arc<(SqlConnection, Reach)>),
}

/// One connection's client, for one version of the connection.
struct Cached {
    version: i64,
    client: Built,
    built: Instant,
    /// When it was last handed out (the cache's own clock), for eviction.
    used: u64,
}

/// Clients by connection id, at most [`CACHED_CLIENTS`].
#[derive(Default)]
struct ClientCache {
    clients: HashMap<String, Cached>,
    clock: u64,
    /// Clients built so far.
    built: u64,
}

impl ClientCache {
    /// The client of `connection_id` at `version`, unless it is older than [`CLIENT_MAX_AGE`].
    fn get(&mut self, connection_id: &str, version: i64, now: Instant) -> Option<Built> {
        self.clock += 1;
        let clock = self.clock;
        let hit = self.clients.get_mut(connection_id).filter(|c| {
            c.version == version && now.saturating_duration_since(c.built) < CLIENT_MAX_AGE
        })?;
        hit.used = clock;
        Some(hit.client.clone())
    }

    /// Keeps `client` as the one of `connection_id` at `version`, replacing any other version's;
    /// when full, the least recently used connection's client goes.
    fn put(&mut self, connection_id: &str, version: i64, client: Built, now: Instant) {
        self.built += 1;
        self.clock += 1;
        if !self.clients.contains_key(connection_id) && self.clients.len() >= CACHED_CLIENTS {
            let oldest = self
                .clients
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.clients.remove(&oldest);
            }
        }
        self.clients.insert(
            connection_id.to_string(),
            Cached {
                version,
                client,
                built: now,
                used: self.clock,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client(account: &str) -> Built {
        let options = ClientOptions {
            allow_internal: true,
            ..ClientOptions::default()
        };
        Built::Dbt(
            DbtClient::connect("http://127.0.0.1:9", account, "dbtc_token", options)
                .await
                .expect("client"),
        )
    }

    #[tokio::test]
    async fn a_client_serves_one_connection_version_until_it_ages_out() {
        let mut cache = ClientCache::default();
        let t0 = Instant::now();
        cache.put("conn", 1, client("1").await, t0);
        assert!(cache.get("conn", 1, t0).is_some(), "same version: reused");
        assert!(
            cache.get("conn", 2, t0).is_none(),
            "an edit: a fresh client"
        );
        assert!(cache.get("other", 1, t0).is_none());
        assert!(
            cache.get("conn", 1, t0 + CLIENT_MAX_AGE).is_none(),
            "an old client is built again"
        );
        cache.put("conn", 2, client("2").await, t0);
        assert!(
            cache.get("conn", 1, t0).is_none(),
            "the old version is gone"
        );
        assert_eq!(
            cache.get("conn", 2, t0).and_then(|c| match c {
                Built::Dbt(c) => Some(c.account_id().to_string()),
                Built::MySql(_) | Built::Postgres(_) => None,
            }),
            Some("2".to_string())
        );
        assert_eq!(cache.clients.len(), 1);
        assert_eq!(cache.built, 2);
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let mut cache = ClientCache::default();
        let now = Instant::now();
        let shared = client("1").await;
        for i in 0..CACHED_CLIENTS {
            cache.put(&format!("conn-{i}"), 1, shared.clone(), now);
        }
        // conn-0 is used again, so conn-1 is now the least recently used.
        assert!(cache.get("conn-0", 1, now).is_some());
        cache.put("conn-new", 1, shared.clone(), now);
        assert_eq!(cache.clients.len(), CACHED_CLIENTS);
        assert!(cache.get("conn-0", 1, now).is_some());
        assert!(cache.get("conn-1", 1, now).is_none());
        assert!(cache.get("conn-new", 1, now).is_some());
    }
}
