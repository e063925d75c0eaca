//! dbt's `{status, data, extra}` envelope: typed success bodies, error messages, timestamps.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{scrub, DbtError};

/// A decoded success body. Every part is optional: dbt is not consistent about them.
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub(crate) struct Envelope<T> {
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub data: Option<T>,
    #[serde(default)]
    pub extra: Option<Extra>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Status {
    #[serde(default)]
    pub is_success: Option<bool>,
    #[serde(default)]
    pub user_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Extra {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Pagination {
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// Decodes a 2xx body into its `data`; a missing `data` or `is_success: false` is invalid.
pub(crate) fn decode<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<(T, Option<Extra>), DbtError> {
    // Serde errors can quote values from the body: scrub anything token-like.
    let invalid = |message: String| DbtError::InvalidResponse {
        status,
        message: scrub(&message, ""),
    };
    let envelope: Envelope<T> =
        serde_json::from_slice(body).map_err(|err| invalid(format!("unexpected body: {err}")))?;
    if let Some(status) = envelope.status.as_ref() {
        if status.is_success == Some(false) {
            let said = status.user_message.as_deref().unwrap_or("no message");
            return Err(invalid(format!("status.is_success is false: {said}")));
        }
    }
    let data = envelope
        .data
        .ok_or_else(|| invalid("missing data".to_owned()))?;
    Ok((data, envelope.extra))
}

/// dbt's message in an error body: the first non-empty of `data.reason`,
/// `status.user_message` and `status.developer_message`, followed by any per-field
/// validation messages in `data`. `None` for a body that is not a JSON envelope (HTML...).
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let data = value.get("data");
    let status = value.get("status");
    let message = data
        .and_then(|d| d.get("reason"))
        .and_then(text)
        .or_else(|| status.and_then(|s| s.get("user_message")).and_then(text))
        .or_else(|| {
            status
                .and_then(|s| s.get("developer_message"))
                .and_then(text)
        });
    let fields = data.and_then(Value::as_object).map(|fields| {
        fields
            .iter()
            .filter(|(key, _)| key.as_str() != "reason")
            .filter_map(|(key, v)| field_text(v).map(|t| format!("{key}: {t}")))
            .collect::<Vec<_>>()
    });
    match (message, fields.filter(|f| !f.is_empty())) {
        (Some(message), Some(fields)) => Some(format!("{message} ({})", fields.join("; "))),
        (Some(message), None) => Some(message),
        (None, Some(fields)) => Some(fields.join("; ")),
        (None, None) => None,
    }
}

/// A validation message: a string, or a list of strings.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        _ => None,
    }
}

/// Parses both dbt timestamp shapes: ISO `2025-10-06T05:55:54Z` / `+00:00` and v3's
/// `2025-10-06 05:55:54.587854+00:00`; a timestamp without offset is taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let iso = text.replacen(' ', "T", 1);
    if let Ok(at) = DateTime::parse_from_rfc3339(&iso) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&iso, format).ok())
        .map(|naive| naive.and_utc())
}

/// Serde helper: an optional timestamp in either format; unparseable values become `None`.
pub(crate) fn lenient_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw: Option<String> = Option::deserialize(deserializer)?;
    Ok(raw.as_deref().and_then(parse_timestamp))
}

/// Serde helper: `null` as the type's default.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn both_timestamp_formats_parse() {
        let expected = Utc
            .with_ymd_and_hms(2025, 10, 6, 5, 55, 54)
            .single()
            .expect("time")
            + chrono::Duration::microseconds(587_854);
        for text in [
            "2025-10-06 05:55:54.587854+00:00",
            "2025-10-06T05:55:54.587854+00:00",
            "2025-10-06T05:55:54.587854Z",
            "2025-10-06T07:55:54.587854+02:00",
            "2025-10-06 05:55:54.587854",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn the_message_prefers_reason_then_user_then_developer_message() {
        let body = br#"{"status":{"user_message":"user","developer_message":"dev"},"data":{"reason":"why"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("why"));
        let body = br#"{"status":{"user_message":"","developer_message":"dev"},"data":null}"#;
        assert_eq!(error_message(body).as_deref(), Some("dev"));
        let body = br#"{"status":{"code":401,"user_message":"Invalid token."}}"#;
        assert_eq!(error_message(body).as_deref(), Some("Invalid token."));
        assert_eq!(
            error_message(b"<html><h1>502 Bad Gateway</h1></html>"),
            None
        );
        assert_eq!(error_message(b""), None);
    }

    #[test]
    fn field_errors_are_appended() {
        let body = br#"{"status":{"user_message":"The request was invalid."},"data":{"name":"This field is required.","permission_grants":["Bad.","Worse."]}}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("The request was invalid. (name: This field is required.; permission_grants: Bad. Worse.)")
        );
    }

    #[test]
    fn decode_requires_data_and_success() {
        let ok: Result<(i64, _), _> = decode(200, br#"{"data": 5}"#);
        assert_eq!(ok.map(|(d, _)| d).ok(), Some(5));
        let missing: Result<(i64, _), _> = decode(200, br#"{"status":{}}"#);
        assert!(matches!(
            missing,
            Err(DbtError::InvalidResponse { status: 200, .. })
        ));
        let failed: Result<(i64, _), _> =
            decode(200, br#"{"status":{"is_success":false},"data":1}"#);
        assert!(failed.is_err());
        let html: Result<(i64, _), _> = decode(200, b"<html>");
        assert!(html.is_err());
    }
}
