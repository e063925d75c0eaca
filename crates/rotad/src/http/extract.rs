//! Extractors whose rejections are our error envelope: the authenticated caller, JSON bodies
//! and query strings checked against their types and rules.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Issue};
use crate::services::{AppState, Ctx, RequestMeta};

/// Upper bound of a request body.
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Rules a request type checks beyond its shape (bounds, formats). Issues become a 422.
pub trait Validate {
    /// A body type whose schema marks the body required: a missing (empty) body or a JSON
    /// `null` is then a 422 instead of reading as `{}`.
    const BODY_REQUIRED: bool = false;

    fn validate(&self) -> Vec<Issue> {
        Vec::new()
    }
}

/// The authenticated caller (`Authorization: Bearer …`).
pub struct Auth(pub Ctx);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| Error::unauthorized("Token missing"))?;
        let meta = request_meta(parts, &app.settings.trusted_proxies);
        let actor = app.authenticate(token, &meta.ip_address).await?;
        Ok(Auth(Ctx { actor, meta }))
    }
}

/// Caller address and user agent, for the audit log.
pub struct Meta(pub RequestMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        Ok(Meta(request_meta(parts, &app.settings.trusted_proxies)))
    }
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy (docs/SECURITY.md, "Client
/// addresses"). A client cannot spoof its address by sending the header itself.
fn client_address(parts: &Parts, proxies: &[String]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return String::new();
    };
    let trusted = |ip: std::net::IpAddr| {
        proxies
            .iter()
            .any(|range| crate::services::identities::in_range(ip, range))
    };
    if proxies.is_empty() || !trusted(peer) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(**ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer)
        .to_string()
}

fn request_meta(parts: &Parts, proxies: &[String]) -> RequestMeta {
    RequestMeta {
        ip_address: client_address(parts, proxies),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect(),
    }
}

/// A JSON body: malformed JSON is a 400, a body of the wrong shape or breaking a rule a 422,
/// an oversized body a 413. An empty body reads as `{}`, unless the type requires a body
/// ([`Validate::BODY_REQUIRED`]): then it, or a JSON `null`, is a 422.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| Error::PayloadTooLarge)?;
        let blank = bytes.iter().all(u8::is_ascii_whitespace);
        if blank && T::BODY_REQUIRED {
            return Err(missing_body("received an empty body"));
        }
        let value: Value = if blank {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|_| Error::bad_request("Body is not valid JSON"))?
        };
        if value.is_null() && T::BODY_REQUIRED {
            return Err(missing_body("received null"));
        }
        if let Some(path) = nul_in(&value) {
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            return Err(nul_issue(&segments));
        }
        let parsed = parse_value::<T>(value)?;
        let issues = parsed.validate();
        if issues.is_empty() {
            Ok(Body(parsed))
        } else {
            Err(Error::Validation(issues))
        }
    }
}

/// The 422 for a required body that is missing; its path is the body itself (`[]`).
fn missing_body(received: &str) -> Error {
    Error::Validation(vec![Issue::new(
        "invalid_type",
        &[],
        format!("Request body is required: expected a JSON object, {received}"),
    )])
}

/// Query parameters; unknown keys are ignored, as clients send many.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let raw = parts.uri.query().unwrap_or("");
        // A NUL can only arrive percent-encoded (the URI parser refuses a raw one): decode the
        // pairs to name the key only when the query holds one.
        if raw.contains('\0') || raw.contains("%00") {
            if let Some((key, _)) = form_urlencoded::parse(raw.as_bytes())
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            {
                return Err(nul_issue(&[&key.replace('\0', "")]));
            }
        }
        // The common case without the path tracking; a failure is parsed again to name the
        // field.
        let parsed: T = match serde_urlencoded::from_str(raw) {
            Ok(parsed) => parsed,
            Err(_) => {
                let de =
                    serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = e.path().to_string();
                    Error::Validation(vec![Issue::new(
                        "invalid_type",
                        &path_segments(&path),
                        clean_serde_message(&e.inner().to_string()),
                    )])
                })?
            }
        };
        let issues = parsed.validate();
        if issues.is_empty() {
            Ok(Query(parsed))
        } else {
            Err(Error::Validation(issues))
        }
    }
}

/// Text never holds NUL: PostgreSQL cannot store it, and no real name or value needs it.
fn nul_issue(path: &[&str]) -> Error {
    Error::Validation(vec![Issue::new(
        "invalid_string",
        path,
        "Text must not contain NUL characters",
    )])
}

/// The path of the first string (or key) in `value` that holds a NUL character.
fn nul_in(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) if s.contains('\0') => Some(Vec::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            nul_in(v).map(|mut p| {
                p.insert(0, i.to_string());
                p
            })
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(vec![k.replace('\0', "")]);
            }
            nul_in(v).map(|mut p| {
                p.insert(0, k.clone());
                p
            })
        }),
        _ => None,
    }
}

/// The refusal of a request whose path holds an encoded NUL (`%00`), before any handler reads
/// it; `None` for any other path.
pub fn nul_path_refusal(request: &axum::extract::Request) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    // `%00` has no letters: no case to fold.
    request
        .uri()
        .path()
        .contains("%00")
        .then(|| nul_issue(&["path"]).into_response())
}

/// Deserializes a JSON value, reporting the failing field's path.
pub fn parse_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = clean_serde_message(&e.inner().to_string());
        let code = if message.starts_with("unknown field") {
            "unrecognized_keys"
        } else {
            "invalid_type"
        };
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
            .map(str::to_string);
        let mut segments = path_segments(&path);
        if let Some(field) = missing.as_deref() {
            segments.push(field);
        }
        Error::Validation(vec![Issue::new(code, &segments, message.clone())])
    })
}

/// A value parsed as `T` and checked against its rules, as [`Body`] checks a request body.
pub fn parse_checked<T: DeserializeOwned + Validate>(value: Value) -> Result<T, Error> {
    if let Some(path) = nul_in(&value) {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        return Err(nul_issue(&segments));
    }
    let parsed = parse_value::<T>(value)?;
    let issues = parsed.validate();
    if issues.is_empty() {
        Ok(parsed)
    } else {
        Err(Error::Validation(issues))
    }
}

fn path_segments(path: &str) -> Vec<&str> {
    path.split(['.', '[', ']'])
        .filter(|s| !s.is_empty() && *s != "?")
        .collect()
}

/// serde's messages carry line/column positions that mean nothing for a parsed value.
fn clean_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A path segment that must be a UUID (a 422 otherwise, as upstream's schema check does).
pub fn uuid_param(field: &str, value: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.to_string())
        .map_err(|_| {
            Error::Validation(vec![Issue::new("invalid_string", &[field], "Invalid uuid")])
        })
}

/// A named segment of the request's path (`{name}` in its route), for extractors that read
/// one or two by name.
pub async fn path_param(parts: &mut Parts, name: &str) -> Result<String, Error> {
    let axum::extract::Path(params) =
        axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, &())
            .await
            .map_err(|e| Error::bad_request(e.body_text()))?;
    params
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| Error::not_found(format!("No {name} in the path")))
}
