//! The API token, kept out of logs and debug output.

use std::fmt;

/// A dbt Cloud API token (service token or PAT). Its `Debug` prints `ApiToken(***)` and it
/// has no `Display`; read it with [`ApiToken::expose`] only where it must be sent.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token, trimming surrounding whitespace.
    pub fn new(token: impl Into<String>) -> Self {
        let token: String = token.into();
        ApiToken(token.trim().to_owned())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let token = ApiToken::new("  dbtc_SecretSecret  ");
        assert_eq!(format!("{token:?}"), "ApiToken(***)");
        assert_eq!(token.expose(), "dbtc_SecretSecret");
    }
}
