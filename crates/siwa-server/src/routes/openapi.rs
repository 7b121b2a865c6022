//! The OpenAPI 3.1 document of `siwa serve`: the frame written here (info,
//! tags, security schemes, the responses every route may give because of the
//! layers around all of them), and the operations of the route table, each
//! from its handler's `#[utoipa::path]`. Served as `GET /openapi.json` and
//! browsable at `GET /docs`, a page of ours that renders it with no asset
//! from elsewhere (the service may run offline).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, PathItem, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::Routes;
use crate::app::AppState;
use crate::error::ErrorBody;

/// The document of a service with (`provider`) or without the OpenID
/// Provider's routes.
pub(crate) fn document(provider: bool) -> Document {
    let mut document = OpenApiRouter::with_openapi(Frame::openapi())
        .merge(Routes::new(provider).merged())
        .into_openapi();
    add_shared_responses(&mut document);
    name_operations(&mut document);
    document
}

/// `GET /openapi.json`: the document of the routes this service serves.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub(crate) async fn json(State(app): State<Arc<AppState>>) -> Response {
    let text = json_text(app.settings.oidc.is_some());
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        text,
    )
        .into_response()
}

/// `GET /docs`: a page that renders `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    summary = "This document, browsable",
    responses((status = 200, description = "HTML (its script renders `/openapi.json`)", body = String, content_type = "text/html"))
)]
pub(crate) async fn docs() -> Response {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        )],
        Html(DOCS_PAGE),
    )
        .into_response()
}

/// The OpenAPI 3.1 document of `siwa serve` as JSON: of a service with
/// (`provider`) or without the OpenID Provider's routes. Made once per
/// process for each kind (the document is plain data: its serialization
/// does not fail).
pub fn json_text(provider: bool) -> &'static str {
    static WITH: OnceLock<String> = OnceLock::new();
    static WITHOUT: OnceLock<String> = OnceLock::new();
    let cell = if provider { &WITH } else { &WITHOUT };
    cell.get_or_init(|| document(provider).to_pretty_json().unwrap_or_default())
}

/// The frame: what no handler says.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "siwa serve",
        description = "A self-hosted Sign in with Apple login service, and (with an `[oidc]` section) an OpenID Provider in front of Sign in with Apple.\n\nEvery answer carries `X-Request-Id`. An error of the JSON routes is `{\"error\",\"message\",\"request_id\"}` (`Error`): a stable code, a fixed phrase, and the id under which the log holds the detail. The OpenID Provider's token and revocation endpoints answer OAuth's `{\"error\",\"error_description\"}` (`OAuthError`, RFC 6749 §5.2).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "web", description = "The browser's sign-in with Apple"),
        (name = "native", description = "Sign-in from a native app"),
        (name = "session", description = "The service's own sessions and the signed-in user"),
        (name = "apple", description = "What Apple calls"),
        (name = "openid-provider", description = "The OpenID Provider (served only with an `[oidc]` section)"),
        (name = "operations", description = "Keys, health, metrics, this document"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct Frame;

/// The ways a request proves who it is.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of `/auth/apple/native` or `/session/refresh` (ES256, `/.well-known/jwks.json`); on `/oauth2/userinfo`, one of the OpenID Provider's `/oauth2/token`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "siwa_session",
                "The web session of `/auth/apple/callback` (`HttpOnly`, `SameSite=Lax`); named `__Host-siwa_session` when the public URL is https.",
            ))),
        );
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A confidential client's id and secret (RFC 6749 §2.3.1); `client_secret_post` and public clients send `client_id` in the form instead.",
                    ))
                    .build(),
            ),
        );
    }
}

/// What the layers around every route may answer, by status: the body and
/// header limits, the request timeout and database outages, and our own failure.
const SHARED_RESPONSES: [(&str, &str, &str); 4] = [
    ("413", "TooLarge", "The body is over 64 KiB"),
    (
        "431",
        "HeadersTooLarge",
        "The request headers are over 16 KiB (text)",
    ),
    (
        "500",
        "Internal",
        "Something went wrong on our side (logged under the request id)",
    ),
    (
        "503",
        "Unavailable",
        "The database is unavailable for a moment (`Retry-After`), or the request took over 30 s",
    ),
];

/// Adds the shared responses to the components and to every operation that
/// does not describe that status itself.
fn add_shared_responses(document: &mut Document) {
    let components = document.components.get_or_insert_with(Default::default);
    for (status, name, description) in SHARED_RESPONSES {
        let mut response = ResponseBuilder::new().description(description);
        if status != "431" {
            response = response.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            );
        }
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response.build()));
    }
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            for (status, name, _) in SHARED_RESPONSES {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
}

/// Names each operation by its method and path (`get_me`, `post_oauth2_logout`):
/// unique by construction, where the handlers' names are not (one handler
/// may serve two methods, and two modules have a `logout`).
fn name_operations(document: &mut Document) {
    for (path, item) in document.paths.paths.iter_mut() {
        let slug: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let slug = slug.trim_matches('_');
        for (method, operation) in methods(item) {
            operation.operation_id = Some(if slug.is_empty() {
                method.to_owned()
            } else {
                format!("{method}_{slug}")
            });
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    methods(item).map(|(_, operation)| operation)
}

fn methods(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

/// The page's script and style are its own, inline; it fetches only `/openapi.json`.
const DOCS_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const DOCS_PAGE: &str = include_str!("docs.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_the_shared_responses_and_the_resume_path_is_the_handlers() {
        let mut document = document(true);
        assert!(document.paths.paths.contains_key(crate::oidc::RESUME_PATH));
        let mut count = 0;
        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                count += 1;
                assert!(operation.responses.responses.contains_key("503"));
            }
        }
        assert!(count >= 25, "{count} operations");
        let without = super::document(false);
        assert!(!without.paths.paths.contains_key("/oauth2/token"));
    }
}
