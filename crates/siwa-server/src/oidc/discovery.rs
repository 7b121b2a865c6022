//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0
//! §3): what the provider does, and only that.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::settings::OidcSettings;
use crate::app::AppState;

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn configuration(State(app): State<Arc<AppState>>) -> Response {
    match app.settings.oidc.as_deref() {
        Some(oidc) => (
            [(header::CACHE_CONTROL, "public, max-age=3600")],
            Json(document(oidc, &app.settings.public_url)),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The discovery document. `public_url` serves the keys (the service's JWKS).
pub(crate) fn document(oidc: &OidcSettings, public_url: &str) -> Value {
    json!({
        "issuer": oidc.issuer,
        "authorization_endpoint": oidc.url("/oauth2/authorize"),
        "token_endpoint": oidc.url("/oauth2/token"),
        "userinfo_endpoint": oidc.url("/oauth2/userinfo"),
        "revocation_endpoint": oidc.url("/oauth2/revoke"),
        "end_session_endpoint": oidc.url("/oauth2/logout"),
        "jwks_uri": format!("{public_url}/.well-known/jwks.json"),
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash",
            "email", "email_verified", "is_private_email",
            "name", "given_name", "family_name", "real_user_status"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}
