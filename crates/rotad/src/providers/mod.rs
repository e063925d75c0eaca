//! Rotation providers: who issues and revokes the credentials a rotation publishes.
//! dbt Cloud service tokens (`dbt`) and database users' passwords (`mysql`, `postgres`, on
//! what `sql` shares);
//! others plug in here (docs/ARCHITECTURE.md, "Providers").

pub mod dbt;
pub mod mysql;
pub mod postgres;
pub mod sql;
pub mod sql_login;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A credential as a rotation keeps it in a slot: a provider's token (dbt's shape,
/// `{serviceToken, tokenId, tokenName}`) or a database login (`{username, password}`). The
/// stored JSON is one of the two shapes (untagged), so rows written before logins existed
/// read as they were. `Debug` redacts the secret.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Credential {
    Token(TokenCredential),
    Login(LoginCredential),
}

/// A token a provider minted (dbt's service token).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TokenCredential {
    pub service_token: String,
    pub token_id: i64,
    pub token_name: String,
    /// Where it lives: the provider's [`RotationProvider::target`] when it was minted (empty
    /// for credentials minted before targets were recorded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
}

/// A database user's password (the SQL credentials providers). Its id is the username: one
/// user holds one password at a time.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LoginCredential {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(t) => f
                .debug_struct("Credential")
                .field("service_token", &format_args!("[redacted]"))
                .field("token_id", &t.token_id)
                .field("token_name", &t.token_name)
                .field("target", &t.target)
                .finish(),
            Credential::Login(l) => f
                .debug_struct("Credential")
                .field("username", &l.username)
                .field("password", &format_args!("[redacted]"))
                .field("target", &l.target)
                .finish(),
        }
    }
}

impl Credential {
    /// The provider's id of the credential (dbt's token id; a login's username); never the
    /// secret itself. Queued revocations carry it.
    pub fn id(&self) -> String {
        match self {
            Credential::Token(t) => t.token_id.to_string(),
            Credential::Login(l) => l.username.clone(),
        }
    }

    /// Where it lives ([`RotationProvider::target`] when it was minted).
    pub fn target(&self) -> &str {
        match self {
            Credential::Token(t) => &t.target,
            Credential::Login(l) => &l.target,
        }
    }

    /// The values it publishes, by the `secretsMapping` field each goes to.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        match self {
            Credential::Token(t) => vec![("serviceToken", t.service_token.as_str())],
            Credential::Login(l) => vec![
                ("username", l.username.as_str()),
                ("password", l.password.as_str()),
            ],
        }
    }

    /// Whether `other` is this very credential: the same token (by id and target), or the
    /// same user with the same password (a user holds one password at a time, so its id
    /// alone does not tell two of its credentials apart).
    pub fn same(&self, other: &Credential) -> bool {
        match (self, other) {
            (Credential::Token(_), Credential::Token(_)) => self.is(&other.id(), other.target()),
            (Credential::Login(a), Credential::Login(b)) => {
                a.username == b.username && a.password == b.password
            }
            _ => false,
        }
    }

    /// Whether this is the credential `id` at `target` (ids are only unique per target; an
    /// unknown target matches any).
    pub fn is(&self, id: &str, target: &str) -> bool {
        let own = self.target();
        self.id() == id && (own.is_empty() || target.is_empty() || own == target)
    }
}

/// A provider failure, with the provider's own message (never secret text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    /// The call may have taken effect (a create whose answer was lost).
    pub ambiguous: bool,
    /// What kind of failure, for alerts that must not quote the provider.
    pub kind: FailureKind,
}

/// A failure's category, as upstream's failed-rotation webhook names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureKind {
    Auth,
    NotFound,
    RateLimit,
    Connection,
    Timeout,
    /// Another HTTP answer, with its status when known.
    Http(Option<u16>),
    #[default]
    Other,
}

impl FailureKind {
    /// Upstream's sanitized text for the `secrets.rotation-failed` webhook: a category, never
    /// the provider's own words. `message` is only searched for upstream's fallback keywords.
    pub fn alert_text(self, message: &str) -> String {
        let lower = message.to_lowercase();
        let category = match self {
            FailureKind::Auth => "an authentication/authorization error".to_string(),
            FailureKind::NotFound => "a not found error".to_string(),
            FailureKind::RateLimit => "a rate limit error".to_string(),
            FailureKind::Connection => "a connection error".to_string(),
            FailureKind::Timeout => "a timeout error".to_string(),
            FailureKind::Http(Some(status)) => format!("an HTTP error (status {status})"),
            FailureKind::Http(None) => "an HTTP error (status unknown)".to_string(),
            FailureKind::Other if lower.contains("timeout") || lower.contains("etimedout") => {
                "a timeout error".to_string()
            }
            FailureKind::Other
                if lower.contains("econnrefused")
                    || lower.contains("econnreset")
                    || lower.contains("connect") =>
            {
                "a connection error".to_string()
            }
            FailureKind::Other
                if lower.contains("authentication")
                    || lower.contains("unauthorized")
                    || lower.contains("permission") =>
            {
                "an authentication/authorization error".to_string()
            }
            FailureKind::Other => {
                return "Credential rotation failed. Check the rotation status in the dashboard \
                        for more details."
                    .to_string()
            }
        };
        format!(
            "Credential rotation failed due to {category}. Check the rotation status in the \
             dashboard for more details."
        )
    }
}

/// Characters of the intent id in a minted credential's name.
const SUFFIX_LEN: usize = 12;

/// The name a credential minted for intent `intent_id` gets: `base` (cut short only where the
/// provider's `limit` requires), `-`, then a short URL-safe suffix of the intent id. A sweep
/// after a lost answer then takes exactly this intent's credentials and nothing else: never
/// one made by hand or by another rotation, whatever their names (docs/ARCHITECTURE.md).
pub fn intent_name(base: &str, intent_id: &str, limit: usize) -> String {
    let suffix: String = intent_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(SUFFIX_LEN)
        .collect::<String>()
        .to_ascii_lowercase();
    let room = limit.saturating_sub(suffix.len() + 1);
    let head: String = base.chars().take(room).collect();
    format!("{head}-{suffix}")
}

/// Builds the provider a rotation's connection stands for. `parameters` is the rotation's
/// stored `parameters` JSON (`None` for revocations and sweeps, which need none).
#[async_trait]
pub trait ProviderFactory: Send + Sync {
    async fn provider(
        &self,
        connection_id: &str,
        parameters: Option<&str>,
    ) -> Result<Box<dyn RotationProvider>, ProviderError>;

    /// [`ProviderFactory::provider`] when the caller read the connection's `version` already
    /// (with the rotation, under its lease): a provider kept for that version needs no read.
    async fn provider_at(
        &self,
        connection_id: &str,
        version: Option<i64>,
        parameters: Option<&str>,
    ) -> Result<Box<dyn RotationProvider>, ProviderError> {
        let _ = version;
        self.provider(connection_id, parameters).await
    }

    /// How many provider clients were built so far (each a DNS lookup and a new connection
    /// pool); for tests and diagnostics.
    fn clients_built(&self) -> u64 {
        0
    }
}

#[async_trait]
pub trait RotationProvider: Send + Sync {
    /// Where this provider's credentials live (for dbt, the instance and the account): a
    /// credential is revoked or swept only through a provider with the same target.
    fn target(&self) -> String;
    /// The name of the credential intent `intent_id` issues into slot `slot` (0 or 1): for
    /// dbt the token's name, carrying the intent ([`intent_name`]); for a database the user
    /// of that slot. It is the intent's `token_name`.
    fn credential_name(&self, intent_id: &str, slot: usize) -> String;
    /// A credential decided before anything is asked of the provider, sealed onto the intent
    /// before [`RotationProvider::issue`] runs (a database password: once the `ALTER` may
    /// have run, only the old or this password can hold). `None` (dbt) when the provider
    /// decides the credential itself.
    fn prepare(&self, name: &str) -> Option<Credential> {
        let _ = name;
        None
    }
    /// Issues a new credential named `name` (the `prepared` one, when there is one). Never
    /// retried blindly.
    async fn issue(
        &self,
        name: &str,
        prepared: Option<&Credential>,
    ) -> Result<Credential, ProviderError>;
    /// Checks, before a rotation is created, what its first issuance cannot prove (for a
    /// database: that the second user exists and the connection may alter it, by giving it a
    /// password nobody keeps). Default: nothing to check.
    async fn validate(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Whether an intent's stored credential took effect, before recovery publishes it: a
    /// prepared password may never have been set. Issued credentials (dbt) always did.
    async fn landed(&self, credential: &Credential) -> Result<bool, ProviderError> {
        let _ = credential;
        Ok(true)
    }
    /// Revokes a credential by its id ([`Credential::id`]); an already revoked or unknown one
    /// is success.
    async fn revoke(&self, credential_id: &str) -> Result<(), ProviderError>;
    /// Whether the credential still authenticates.
    async fn is_live(&self, credential: &Credential) -> Result<bool, ProviderError>;
    /// Live credentials whose name is exactly `name`, whatever their age. Every credential
    /// rotad mints is named for its intent ([`intent_name`]), so these are exactly the
    /// credentials one intent may have created. Providers whose credentials are prepared
    /// (sealed onto the intent first) find nothing here: recovery knows their credential.
    async fn find_named(&self, name: &str) -> Result<Vec<String>, ProviderError>;
}

/// A rotation type: its slug in the API, its display name, the app its connection is of,
/// the fields of its `secretsMapping` (in the order [`Credential::fields`] gives them) and
/// the secret names the options template suggests.
#[derive(Debug, Clone, Copy)]
pub struct RotationType {
    pub slug: &'static str,
    pub name: &'static str,
    pub app: &'static str,
    pub mapping: &'static [(&'static str, &'static str)],
}

/// Every rotation type, in the order `GET /api/v2/secret-rotations/options` lists them. A new
/// provider is one module and one entry here (and one arm in the connection factory).
pub const TYPES: &[RotationType] = &[dbt::TYPE, mysql::TYPE, postgres::TYPE];

/// The rotation type `slug`, when rotad offers it.
pub fn rotation_type(slug: &str) -> Option<&'static RotationType> {
    TYPES.iter().find(|t| t.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::intent_name;

    #[test]
    fn names_carry_the_intent_and_fit_the_limit() {
        let id = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(
            intent_name("analytics-ci", id, 255),
            "analytics-ci-3f2504e04f89"
        );
        let long = "x".repeat(255);
        let name = intent_name(&long, id, 255);
        assert_eq!(name.chars().count(), 255);
        assert!(name.ends_with("-3f2504e04f89"));
        let wide = "ä".repeat(300);
        assert_eq!(intent_name(&wide, id, 255).chars().count(), 255);
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::Credential;

    #[test]
    fn debug_redacts_the_service_token() {
        let credential = Credential::Token(super::TokenCredential {
            service_token: "dbtc_KnownSecretServiceToken".to_string(),
            token_id: 7,
            token_name: "ci-3f2504e04f89".to_string(),
            target: "https://cloud.example#1".to_string(),
        });
        let shown = format!("{credential:?}");
        assert!(!shown.contains("KnownSecret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(
            shown.contains("ci-3f2504e04f89") && shown.contains("7"),
            "{shown}"
        );
    }
}
