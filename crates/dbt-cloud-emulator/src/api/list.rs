//! `limit` / `offset` / `state` query handling and the list `extra` block.

use std::collections::HashMap;

use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::envelope::{self, ApiError};
use crate::model::{STATE_ACTIVE, STATE_DELETED};

/// dbt's page size cap (and default).
pub(crate) const MAX_LIMIT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub limit: usize,
    pub offset: usize,
}

/// Reads `limit` (default and max 100) and `offset` (default 0).
pub(crate) fn page(query: &HashMap<String, String>) -> Result<Page, ApiError> {
    let limit = match query.get("limit") {
        None => MAX_LIMIT,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::field(
                    "limit",
                    "A valid positive integer is required.",
                ))
            }
            Ok(n) => n.min(MAX_LIMIT),
        },
    };
    let offset = match query.get("offset") {
        None => 0,
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .map_err(|_| ApiError::field("offset", "A valid non-negative integer is required."))?,
    };
    Ok(Page { limit, offset })
}

/// Reads the `state` filter: `1`/`active` (default), `2`/`deleted`, or `all` (`None`).
pub(crate) fn state_filter(query: &HashMap<String, String>) -> Result<Option<i32>, ApiError> {
    match query
        .get("state")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("1") | Some("active") => Ok(Some(STATE_ACTIVE)),
        Some("2") | Some("deleted") => Ok(Some(STATE_DELETED)),
        Some("all") => Ok(None),
        Some(_) => Err(ApiError::field(
            "state",
            "Select a valid choice: 1, 2 or all.",
        )),
    }
}

/// A 200 list response for one page of `items`, echoing `filters`.
pub(crate) fn page_response(
    items: Vec<Value>,
    page: Page,
    mut filters: Map<String, Value>,
) -> Response {
    let total_count = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .collect();
    filters.insert("limit".into(), Value::from(page.limit));
    filters.insert("offset".into(), Value::from(page.offset));
    let extra = json!({
        "filters": filters,
        "order_by": "id",
        "pagination": {"count": data.len(), "total_count": total_count},
    });
    envelope::success(Value::from(data), extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limit_defaults_to_and_is_capped_at_100() {
        assert_eq!(
            page(&query(&[])).ok(),
            Some(Page {
                limit: 100,
                offset: 0
            })
        );
        assert_eq!(
            page(&query(&[("limit", "500"), ("offset", "7")])).ok(),
            Some(Page {
                limit: 100,
                offset: 7
            })
        );
        assert!(page(&query(&[("limit", "x")])).is_err());
        assert!(page(&query(&[("limit", "0")])).is_err());
        assert!(page(&query(&[("offset", "-1")])).is_err());
    }

    #[test]
    fn state_filter_understands_numbers_words_and_all() {
        assert_eq!(state_filter(&query(&[])).ok(), Some(Some(1)));
        assert_eq!(state_filter(&query(&[("state", "2")])).ok(), Some(Some(2)));
        assert_eq!(
            state_filter(&query(&[("state", "deleted")])).ok(),
            Some(Some(2))
        );
        assert_eq!(state_filter(&query(&[("state", "all")])).ok(), Some(None));
        assert!(state_filter(&query(&[("state", "9")])).is_err());
    }
}
