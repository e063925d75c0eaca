//! Upstream's search of an organization's identities (`POST /api/v1/identities/search`).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Issue, Result};
use crate::http::extract::{Auth, Body, Validate};
use crate::services::identities::IdentityQuery;
use crate::services::AppState;

use super::identities::{unsupported, OrgMembershipOut, OrgMembershipsResponse};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_identities))
}

/// Upstream's page size when `limit` is absent, and its largest.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderBy {
    Name,
    Role,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// A text condition: a string (equal to it) or operators.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TextFilter {
    Equals(String),
    Operators(TextOperators),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextOperators {
    #[serde(rename = "$eq")]
    eq: Option<String>,
    /// Case-insensitive substring (names only).
    #[serde(rename = "$contains")]
    contains: Option<String>,
    /// One of these values (roles only).
    #[serde(rename = "$in")]
    one_of: Option<Vec<String>>,
}

/// Conditions on the identity's name and organization role, all of which must hold.
/// Upstream's `$or` is refused with a 422.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchFilter {
    name: Option<TextFilter>,
    role: Option<TextFilter>,
    #[serde(rename = "$or")]
    #[schema(value_type = Option<Vec<Object>>)]
    or: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchIn {
    order_by: Option<OrderBy>,
    order_direction: Option<OrderDirection>,
    /// 1 to 100; 50 when absent.
    limit: Option<i64>,
    offset: Option<i64>,
    search: Option<SearchFilter>,
}

impl Validate for SearchIn {
    fn validate(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
            issues.push(Issue::new(
                "too_big",
                &["limit"],
                format!("Number must be between 1 and {MAX_LIMIT}"),
            ));
        }
        if self.offset.is_some_and(|o| o < 0) {
            issues.push(Issue::new(
                "too_small",
                &["offset"],
                "Number must be greater than or equal to 0",
            ));
        }
        let Some(search) = &self.search else {
            return issues;
        };
        if search.or.is_some() {
            issues.push(unsupported(
                &["search", "$or"],
                "$or is not supported by rotad: send the conditions without it (all must hold)",
            ));
        }
        if let Some(TextFilter::Operators(ops)) = &search.name {
            if ops.one_of.is_some() {
                issues.push(unsupported(
                    &["search", "name", "$in"],
                    "$in applies to role only",
                ));
            }
        }
        if let Some(TextFilter::Operators(ops)) = &search.role {
            if ops.contains.is_some() {
                issues.push(unsupported(
                    &["search", "role", "$contains"],
                    "$contains applies to name only",
                ));
            }
        }
        issues
    }
}

impl SearchIn {
    fn into_query(self) -> IdentityQuery {
        let search = self.search.unwrap_or_default();
        let (name_eq, name_contains) = match search.name {
            Some(TextFilter::Equals(n)) => (Some(n), None),
            Some(TextFilter::Operators(ops)) => (ops.eq, ops.contains),
            None => (None, None),
        };
        let roles = match search.role {
            Some(TextFilter::Equals(r)) => Some(vec![r]),
            Some(TextFilter::Operators(ops)) => match (ops.eq, ops.one_of) {
                (Some(eq), Some(mut list)) => {
                    list.retain(|r| *r == eq);
                    Some(list)
                }
                (Some(eq), None) => Some(vec![eq]),
                (None, list) => list,
            },
            None => None,
        };
        IdentityQuery {
            name_eq,
            name_contains,
            roles,
            order_by_role: self.order_by == Some(OrderBy::Role),
            descending: self.order_direction == Some(OrderDirection::Desc),
            offset: usize::try_from(self.offset.unwrap_or(0)).unwrap_or(0),
            limit: usize::try_from(self.limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(0),
        }
    }
}

/// Searches the organization's identities: by name and role, ordered and paged.
#[utoipa::path(post, path = "/api/v1/identities/search", tag = "Identities", request_body = SearchIn,
    responses((status = 200, body = OrgMembershipsResponse)), security(("bearer" = [])))]
async fn search_identities(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Body(input): Body<SearchIn>,
) -> Result<Json<OrgMembershipsResponse>> {
    let (page, total_count) = app.search_identities(&ctx, &input.into_query()).await?;
    Ok(Json(OrgMembershipsResponse {
        identities: OrgMembershipOut::many(&app, page).await?,
        total_count,
    }))
}
