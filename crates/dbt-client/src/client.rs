//! `DbtClient`: the dbt Cloud Admin API calls rotad needs.

use std::collections::HashSet;
use std::fmt;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::envelope::decode;
use crate::error::DbtError;
use crate::instance;
use crate::model::{Account, CreatedToken, PermissionGrant, Project, ServiceToken, TokenState};
use crate::options::ClientOptions;
use crate::secret::ApiToken;
use crate::transport::{ApiRequest, Transport};

/// Page size for list calls (dbt's maximum).
const PAGE_SIZE: usize = 100;
/// Upper bound on pages read by one list call, against a server that never stops paging.
const MAX_PAGES: usize = 1000;

/// A client for one dbt Cloud account, authenticated with one API token.
#[derive(Clone)]
pub struct DbtClient {
    transport: Transport,
    account_id: String,
}

impl fmt::Debug for DbtClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbtClient")
            .field("base_url", &self.transport.base())
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl DbtClient {
    /// Validates the instance URL (scheme, credentials, SSRF guard with DNS resolution), the
    /// account id and the token, and builds the client. Makes no request to dbt.
    pub async fn connect(
        instance_url: &str,
        account_id: &str,
        api_token: &str,
        options: ClientOptions,
    ) -> Result<DbtClient, DbtError> {
        let account_id = account_id.trim();
        let valid_account = !account_id.is_empty()
            && account_id.len() <= 20
            && account_id.bytes().all(|b| b.is_ascii_digit());
        if !valid_account {
            return Err(DbtError::InvalidInput {
                message: "the account id must be a number".to_owned(),
            });
        }
        let token = ApiToken::new(api_token);
        if token.expose().is_empty() {
            return Err(DbtError::InvalidInput {
                message: "the API token is empty".to_owned(),
            });
        }
        let instance = instance::resolve(instance_url, options.allow_internal).await?;
        let transport = Transport::new(instance, token, options)?;
        Ok(DbtClient {
            transport,
            account_id: account_id.to_owned(),
        })
    }

    /// `scheme://host[:port]` requests go to.
    pub fn base_url(&self) -> &str {
        self.transport.base()
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// `GET /api/v2/accounts/{id}/`: proves the token can reach the account.
    pub async fn get_account(&self) -> Result<Account, DbtError> {
        let path = format!("/api/v2/accounts/{}/", self.account_id);
        self.get_data(ApiRequest::get(path)).await
    }

    /// `POST /api/v3/accounts/{id}/service-tokens/`. Never retried: on an error for which
    /// [`DbtError::is_ambiguous`] is true the token may exist; list tokens to find it.
    pub async fn create_service_token(
        &self,
        name: &str,
        grants: &[PermissionGrant],
    ) -> Result<CreatedToken, DbtError> {
        if name.trim().is_empty() {
            return Err(DbtError::InvalidInput {
                message: "the service token name is empty".to_owned(),
            });
        }
        let request = ApiRequest {
            method: Method::POST,
            path: self.tokens_path(),
            query: Vec::new(),
            body: Some(json!({ "name": name, "permission_grants": grants })),
        };
        let created: CreatedToken = self.get_data(request).await?;
        if created.token_string.trim().is_empty() {
            return Err(DbtError::InvalidResponse {
                status: 200,
                message: format!("token {} was created without a token_string", created.id),
            });
        }
        Ok(created)
    }

    /// `GET .../service-tokens/{id}/`. An unknown id (404) or a deleted token (`state: 2`)
    /// is [`TokenState::Revoked`].
    pub async fn get_service_token(&self, id: i64) -> Result<TokenState, DbtError> {
        match self
            .get_data::<ServiceToken>(ApiRequest::get(self.token_path(id)))
            .await
        {
            Ok(token) if token.id != id => Err(DbtError::InvalidResponse {
                status: 200,
                message: format!("asked for token {id}, got token {}", token.id),
            }),
            Ok(token) if token.is_active() => Ok(TokenState::Live(token)),
            Ok(_) | Err(DbtError::NotFound { .. }) => Ok(TokenState::Revoked),
            Err(err) => Err(err),
        }
    }

    /// Whether the token exists and is active.
    pub async fn is_token_live(&self, id: i64) -> Result<bool, DbtError> {
        Ok(matches!(
            self.get_service_token(id).await?,
            TokenState::Live(_)
        ))
    }

    /// Every active service token of the account (all pages, `state=1`), ordered by id.
    pub async fn list_service_tokens(&self) -> Result<Vec<ServiceToken>, DbtError> {
        self.list_all(
            &self.tokens_path(),
            &[("state", "1")],
            |t: &ServiceToken| t.id,
        )
        .await
    }

    /// `DELETE .../service-tokens/{id}/`. A token that is already gone (404) counts as deleted.
    pub async fn delete_service_token(&self, id: i64) -> Result<(), DbtError> {
        let request = ApiRequest {
            method: Method::DELETE,
            path: self.token_path(id),
            query: Vec::new(),
            body: None,
        };
        match self.transport.execute(&request).await {
            Ok(_) | Err(DbtError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Every project of the account (all pages).
    pub async fn list_projects(&self) -> Result<Vec<Project>, DbtError> {
        let path = format!("/api/v3/accounts/{}/projects/", self.account_id);
        self.list_all(&path, &[], |p: &Project| p.id).await
    }

    fn tokens_path(&self) -> String {
        format!("/api/v3/accounts/{}/service-tokens/", self.account_id)
    }

    fn token_path(&self, id: i64) -> String {
        format!("/api/v3/accounts/{}/service-tokens/{id}/", self.account_id)
    }

    async fn get_data<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, DbtError> {
        let answer = self.transport.execute(&request).await?;
        decode::<T>(answer.status, &answer.body).map(|(data, _)| data)
    }

    /// Reads every page of a list endpoint with `limit`/`offset`, until `total_count` is
    /// reached or a page comes back empty (or short, without pagination info).
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&'static str, &str)],
        id_of: fn(&T) -> i64,
    ) -> Result<Vec<T>, DbtError> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut offset = 0usize;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&'static str, String)> =
                filters.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
            query.push(("limit", PAGE_SIZE.to_string()));
            query.push(("offset", offset.to_string()));
            let request = ApiRequest {
                query,
                ..ApiRequest::get(path.to_owned())
            };
            let answer = self.transport.execute(&request).await?;
            let (page, extra) = decode::<Vec<T>>(answer.status, &answer.body)?;
            let count = page.len();
            offset += count;
            items.extend(page.into_iter().filter(|item| seen.insert(id_of(item))));
            let total = extra
                .and_then(|e| e.pagination)
                .and_then(|p| p.total_count)
                .and_then(|t| usize::try_from(t).ok());
            let done = match total {
                Some(total) => count == 0 || offset >= total,
                None => count < PAGE_SIZE,
            };
            if done {
                return Ok(items);
            }
        }
        Err(DbtError::InvalidResponse {
            status: 200,
            message: format!("{path} kept paginating past {MAX_PAGES} pages"),
        })
    }
}
