//! Sending one dbt API request: headers, timeouts, bounded bodies, status classification,
//! and the retry loop for idempotent calls.

use std::error::Error as _;

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::envelope;
use crate::error::{scrub, DbtError};
use crate::instance::InstanceUrl;
use crate::options::ClientOptions;
use crate::retry::{delay_before_retry, parse_retry_after};
use crate::secret::ApiToken;

/// Largest response body read; dbt pages are far smaller.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// One request to send.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path from the host, starting with `/api/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl ApiRequest {
    pub fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    /// Reads, and deletes (dbt's delete is idempotent), may be retried; a create may not.
    fn retryable(&self) -> bool {
        self.method == Method::GET || self.method == Method::DELETE
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: String,
    token: ApiToken,
    options: ClientOptions,
}

impl Transport {
    pub fn new(
        instance: InstanceUrl,
        token: ApiToken,
        options: ClientOptions,
    ) -> Result<Self, DbtError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| DbtError::InvalidInput {
                message: "the API token contains characters not allowed in an HTTP header"
                    .to_owned(),
            })?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));

        // No proxy from the environment (it would connect elsewhere than the checked, pinned
        // addresses) and no redirects (they could lead past the SSRF check).
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("rotad-dbt-client/", env!("CARGO_PKG_VERSION")));
        if let Some((domain, addrs)) = &instance.pinned {
            builder = builder.resolve_to_addrs(domain, addrs);
        }
        let http = builder.build().map_err(|err| DbtError::Internal {
            message: err.to_string(),
        })?;
        Ok(Self {
            http,
            base: instance.base,
            token,
            options,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `request`, retrying transient failures when the request is retryable.
    pub async fn execute(&self, request: &ApiRequest) -> Result<Answer, DbtError> {
        let mut attempt: u32 = 0;
        loop {
            let error = match self.send_once(request).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let may_retry =
                request.retryable() && error.is_transient() && attempt < self.options.max_retries;
            if !may_retry {
                return Err(error);
            }
            let Some(delay) = delay_before_retry(attempt, &error, &self.options) else {
                return Err(error);
            };
            tracing::warn!(
                method = %request.method,
                path = %request.path,
                attempt = attempt + 1,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "dbt Cloud call failed; retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, request: &ApiRequest) -> Result<Answer, DbtError> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = self.http.request(request.method.clone(), url);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = self.read_body(response).await?;
        if (200..300).contains(&status) {
            return Ok(Answer { status, body });
        }
        Err(self.status_error(status, &headers, &body))
    }

    async fn read_body(&self, mut response: Response) -> Result<Vec<u8>, DbtError> {
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(DbtError::InvalidResponse {
                    status,
                    message: "response body too large".to_owned(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn status_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> DbtError {
        let message = envelope::error_message(body).map(|m| scrub(&m, self.token.expose()));
        match status {
            400 | 422 => DbtError::BadRequest { status, message },
            401 => DbtError::Unauthorized { message },
            403 => DbtError::Forbidden { message },
            404 => DbtError::NotFound { message },
            429 => DbtError::RateLimited {
                retry_after: parse_retry_after(headers, Utc::now()),
                message,
            },
            500..=599 => DbtError::Server { status, message },
            _ => DbtError::UnexpectedStatus { status, message },
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> DbtError {
        if error.is_connect() {
            return DbtError::Network {
                message: self.describe(error),
                request_sent: false,
            };
        }
        if error.is_timeout() {
            return DbtError::Timeout;
        }
        if error.is_builder() {
            return DbtError::Internal {
                message: self.describe(error),
            };
        }
        DbtError::Network {
            message: self.describe(error),
            request_sent: true,
        }
    }

    /// The error and its causes, without the URL, scrubbed.
    fn describe(&self, error: &reqwest::Error) -> String {
        let mut parts = vec![if error.is_connect() {
            "connection failed".to_owned()
        } else if error.is_body() || error.is_decode() {
            "reading the response failed".to_owned()
        } else {
            "request failed".to_owned()
        }];
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if parts.last() != Some(&text) {
                parts.push(text);
            }
            source = cause.source();
        }
        scrub(&parts.join(": "), self.token.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_takes_no_proxy_and_follows_no_redirect() {
        let transport = Transport::new(
            InstanceUrl {
                base: "https://cloud.example".to_string(),
                pinned: None,
            },
            ApiToken::new("dbtc_token"),
            ClientOptions::default(),
        )
        .expect("transport");
        let shown = format!("{:?}", transport.http);
        assert!(
            !shown.contains("proxies"),
            "a proxy from the environment: {shown}"
        );
        assert!(shown.contains("Policy(None)"), "redirects: {shown}");
    }
}
