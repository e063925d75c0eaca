//! `Authorization: Token|Bearer <t>` authentication and grant-based authorisation.

use axum::http::{header, HeaderMap};
use chrono::Utc;

use crate::envelope::ApiError;
use crate::model::Token;
use crate::state::Data;

/// Grants that may create, rename and delete service tokens.
const WRITE_SETS: [&str; 2] = ["account_admin", "owner"];
/// Grants that may read and list service tokens.
const READ_SETS: [&str; 4] = ["account_admin", "owner", "security_admin", "account_viewer"];

/// What the caller is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read account-level information any token of the account can see.
    Account,
    /// Read or list service tokens.
    ReadTokens,
    /// Create, rename or delete service tokens.
    WriteTokens,
}

/// The bearer secret of an `Authorization` header, if well formed.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(char::is_whitespace)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
    let token = token.trim();
    (scheme_ok && !token.is_empty()).then_some(token)
}

/// Authenticates the caller and checks it may act on `path_account` with `access`.
/// Returns the caller's token, or the dbt error to answer.
pub(crate) fn authorize(
    data: &mut Data<'_>,
    headers: &HeaderMap,
    path_account: i64,
    access: Access,
) -> Result<Token, ApiError> {
    let secret = bearer(headers).ok_or(ApiError::InvalidToken)?;
    let caller = data
        .authenticate(secret, Utc::now())
        .ok_or(ApiError::InvalidToken)?;
    if caller.account_id != path_account {
        return Err(ApiError::AccessDenied {
            account_id: path_account,
        });
    }
    let allowed = match access {
        Access::Account => true,
        Access::ReadTokens => caller.has_any_grant(&READ_SETS),
        Access::WriteTokens => caller.has_any_grant(&WRITE_SETS),
    };
    if allowed {
        Ok(caller)
    } else {
        Err(ApiError::NoPermission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header value"),
        );
        headers
    }

    #[test]
    fn accepts_token_and_bearer_schemes_in_any_case() {
        assert_eq!(bearer(&headers("Token abc")), Some("abc"));
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("token abc")), Some("abc"));
        assert_eq!(bearer(&headers("BEARER  abc ")), Some("abc"));
    }

    #[test]
    fn rejects_other_schemes_and_empty_tokens() {
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
        assert_eq!(bearer(&headers("Bearer   ")), None);
        assert_eq!(bearer(&headers("abc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
