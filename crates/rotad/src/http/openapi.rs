//! The OpenAPI document: gathered from the handlers' annotations, then given the shared parts
//! (bearer security, the error envelope on every operation).

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, Response, ResponseBuilder};
use utoipa::{OpenApi as _, PartialSchema, ToSchema};

use super::error::ErrorEnvelope;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "rotad",
        description = "Secret rotation server speaking Infisical's HTTP API"
    ),
    components(schemas(ErrorEnvelope))
)]
struct ApiDoc;

pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

const ERROR_STATUSES: [(&str, &str); 8] = [
    ("400", "Bad request"),
    ("401", "Missing or invalid access token"),
    ("403", "Not allowed"),
    ("404", "Not found"),
    ("413", "Request body too large"),
    ("422", "Validation failure"),
    ("429", "Too many requests"),
    ("500", "Internal error"),
];

/// Adds the bearer scheme and the error responses to every operation.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components
        .schemas
        .entry(ErrorEnvelope::name().to_string())
        .or_insert_with(ErrorEnvelope::schema);
    for (status, description) in ERROR_STATUSES {
        components
            .responses
            .insert(error_name(status), error_response(description).into());
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        if let Some(get) = item
            .get
            .as_mut()
            .filter(|_| super::conventions::tagged_route(path))
        {
            get.responses
                .responses
                .entry("304".to_string())
                .or_insert_with(|| {
                    ResponseBuilder::new()
                        .description("Not modified: `If-None-Match` names the answer's `ETag`")
                        .build()
                        .into()
                });
        }
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_errors(op);
        }
    }
    doc
}

/// Every operation's error answers, as references to one shared response per status (written
/// out in each of the 130 operations, they made the document half as long again, 256 KB against
/// 173 KB, and its tree some 5 MB at start-up).
fn add_errors(op: &mut Operation) {
    for (status, _) in ERROR_STATUSES {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                Ref::new(format!("#/components/responses/{}", error_name(status))).into()
            });
    }
}

fn error_name(status: &str) -> String {
    format!("Error{status}")
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
                .build(),
        )
        .build()
}

/// The document as the server sends it.
pub fn serialized(doc: &OpenApi) -> axum::body::Bytes {
    // Maps keyed by strings and plain values, into a buffer: this cannot fail, and if it ever
    // did, start-up (not a request) would say so.
    serde_json::to_vec(doc)
        .expect("the OpenAPI document serializes")
        .into()
}

/// The finished document, as `rotad openapi` prints it.
pub fn openapi() -> OpenApi {
    let (_, doc) = super::api().split_for_parts();
    finish(doc)
}
