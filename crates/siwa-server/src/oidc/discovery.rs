//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0
//! §3): what the provider does, and only that.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::settings::OidcSettings;
use crate::app::AppState;

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "openid-provider",
    summary = "OpenID Provider metadata (Discovery 1.0)",
    responses(
        (status = 200, description = "The provider's metadata", body = Discovery),
        (status = 404, description = "No `[oidc]` section: the provider is not served"),
    )
)]
pub(crate) async fn configuration(State(app): State<Arc<AppState>>) -> Response {
    match app.settings.oidc.as_deref() {
        Some(oidc) => (
            [(header::CACHE_CONTROL, "public, max-age=3600")],
            Json(Discovery::of(oidc, &app.settings.public_url)),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414, RFC 9207).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Discovery {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) userinfo_endpoint: String,
    pub(crate) revocation_endpoint: String,
    pub(crate) end_session_endpoint: String,
    /// The service's JWKS (its own keys and the provider's).
    pub(crate) jwks_uri: String,
    pub(crate) scopes_supported: &'static [&'static str],
    pub(crate) response_types_supported: &'static [&'static str],
    pub(crate) response_modes_supported: &'static [&'static str],
    pub(crate) grant_types_supported: &'static [&'static str],
    pub(crate) subject_types_supported: &'static [&'static str],
    pub(crate) id_token_signing_alg_values_supported: &'static [&'static str],
    pub(crate) token_endpoint_auth_methods_supported: &'static [&'static str],
    pub(crate) revocation_endpoint_auth_methods_supported: &'static [&'static str],
    pub(crate) code_challenge_methods_supported: &'static [&'static str],
    pub(crate) claims_supported: &'static [&'static str],
    pub(crate) prompt_values_supported: &'static [&'static str],
    pub(crate) claims_parameter_supported: bool,
    pub(crate) request_parameter_supported: bool,
    pub(crate) request_uri_parameter_supported: bool,
    pub(crate) authorization_response_iss_parameter_supported: bool,
}

/// How clients may authenticate at the token and revocation endpoints.
const CLIENT_AUTH: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

impl Discovery {
    /// The document of `oidc`; `public_url` serves the keys (the service's JWKS).
    pub(crate) fn of(oidc: &OidcSettings, public_url: &str) -> Self {
        Self {
            issuer: oidc.issuer.clone(),
            authorization_endpoint: oidc.url("/oauth2/authorize"),
            token_endpoint: oidc.url("/oauth2/token"),
            userinfo_endpoint: oidc.url("/oauth2/userinfo"),
            revocation_endpoint: oidc.url("/oauth2/revoke"),
            end_session_endpoint: oidc.url("/oauth2/logout"),
            jwks_uri: format!("{public_url}/.well-known/jwks.json"),
            scopes_supported: &["openid", "profile", "email"],
            response_types_supported: &["code"],
            response_modes_supported: &["query"],
            grant_types_supported: &["authorization_code", "refresh_token"],
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["RS256", "ES256"],
            token_endpoint_auth_methods_supported: CLIENT_AUTH,
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH,
            code_challenge_methods_supported: &["S256"],
            claims_supported: &[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "sid",
                "at_hash",
                "email",
                "email_verified",
                "is_private_email",
                "name",
                "given_name",
                "family_name",
                "real_user_status",
            ],
            prompt_values_supported: &["none", "login", "consent", "select_account"],
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
        }
    }
}
