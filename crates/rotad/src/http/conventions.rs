//! HTTP conventions every route follows (docs/COMPATIBILITY.md, "Webhooks, audit logs, HTTP
//! conventions, unsupported routes"): a trailing slash is trimmed before routing, and secret
//! reads carry an `ETag` that `If-None-Match` turns into a bodiless 304.

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::uri::PathAndQuery;
use axum::http::Uri;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::crypto::hmac_hex;
use crate::services::AppState;

/// Trims the trailing slashes of a request's path before it is routed (`http/serve.rs` calls
/// it on every request), so `/api/status/` is `/api/status` and is counted under that route's
/// template in the metrics. The query is kept; `/` stays `/`.
pub fn trim_trailing_slash(uri: &mut Uri) {
    let path = uri.path();
    if path.len() <= 1 || !path.ends_with('/') {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = PathAndQuery::try_from(path_and_query) {
        parts.path_and_query = Some(pq);
        if let Ok(new) = Uri::from_parts(parts) {
            *uri = new;
        }
    }
}

/// Whether a route template is a secret read that gets entity tags.
pub(super) fn tagged_route(template: &str) -> bool {
    template.starts_with("/api/v3/secrets/raw") || template.starts_with("/api/v4/secrets")
}

/// The strong entity tag of `body`: a keyed hash, so the tag of a secret's answer reveals
/// nothing about its value, and the same on every replica.
fn entity_tag(key: &[u8], body: &[u8]) -> String {
    format!("\"{}\"", &hmac_hex(key, body)[..32])
}

/// Whether an `If-None-Match` value names `tag` (weak comparison, as RFC 9110 asks for it).
fn none_match(header: &str, tag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
    })
}

/// The route layer: records the matched route for the metrics, then [`etag`].
pub async fn per_route(state: State<AppState>, request: Request, next: Next) -> Response {
    crate::metrics::tag_route(&request);
    etag(state, request, next).await
}

/// A 200 answer to a GET of secrets gets an `ETag`; when the request's `If-None-Match` names
/// it, the answer is 304 with no body. The read happens (and is audited) either way.
async fn etag(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let tagged = request.method() == Method::GET
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| tagged_route(p.as_str()));
    if !tagged {
        return next.run(request).await;
    }
    let if_none_match = request
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return super::error::internal_error(),
    };
    let tag = entity_tag(app.keys.root().etag_key(), &bytes);
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(ETAG, value);
    }
    if if_none_match.is_some_and(|h| none_match(&h, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(axum::http::header::CONTENT_TYPE);
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_trimmed_and_queries_kept() {
        for (given, wanted) in [
            ("/api/status/", "/api/status"),
            (
                "/api/v3/secrets/raw/?environment=dev",
                "/api/v3/secrets/raw?environment=dev",
            ),
            ("/api/status//", "/api/status"),
            ("/", "/"),
            ("/api/status", "/api/status"),
        ] {
            let mut uri: Uri = given.parse().expect("uri");
            trim_trailing_slash(&mut uri);
            assert_eq!(uri.to_string(), wanted);
        }
    }

    #[test]
    fn if_none_match_lists() {
        let tag = entity_tag(b"k", b"{}");
        assert_eq!(tag.len(), 34);
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"x\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert_ne!(tag, entity_tag(b"other key", b"{}"));
        assert!(tagged_route("/api/v3/secrets/raw/{secretName}"));
        assert!(!tagged_route("/api/v1/webhooks"));
    }
}
