//! `siwa serve` as an OpenID Provider: any OpenID Connect client signs in
//! with Apple through it, with the name kept, the secret renewed and Apple's
//! notifications handled by the service. Served only when `[oidc]` is set.
//!
//! Strict, as RFC 9700 (the OAuth 2.0 Security BCP) asks: the code flow only
//! (no implicit or hybrid), exact redirect URIs (a native app's loopback
//! redirect with any port), PKCE with S256 required of public clients and
//! checked for any client that sent it, codes single use for 60 seconds,
//! refresh tokens rotated with reuse detection, no `none` algorithm.
//!
//! - `settings.rs`: `[oidc]` parsed; `clients.rs`: the registered clients,
//!   their redirect URIs and secrets; `signing.rs`: the RSA keys of ID tokens;
//! - `request.rs`: the authorization request, read strictly;
//!   `authorize.rs`: `/oauth2/authorize` (and its return from Apple);
//!   `session.rs`: who the browser is signed in as;
//! - `form.rs`, `client_auth.rs`: the token endpoint's form and who calls it;
//!   `token.rs`: `/oauth2/token`; `tokens.rs`: the ID and access tokens;
//! - `userinfo.rs`, `revoke.rs`, `logout.rs`, `discovery.rs`: the other endpoints;
//! - `errors.rs`: OAuth errors as each endpoint answers them.

mod authorize;
mod client_auth;
pub(crate) mod clients;
mod discovery;
mod errors;
mod form;
mod logout;
mod request;
mod revoke;
mod session;
pub(crate) mod settings;
mod signing;
mod token;
mod tokens;
mod userinfo;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[cfg(test)]
pub(crate) use authorize::RESUME_PATH;
pub(crate) use authorize::{cancelled, is_resume};
pub use settings::OidcSettings;
pub use signing::{new_key_pem as new_signing_key, SIGNING_KEY_FILE_NAME};

use crate::app::AppState;

/// The provider's browser routes (rate-limited with the sign-in routes).
pub(crate) fn browser_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(authorize::authorize))
        .routes(routes!(authorize::resume))
}

/// The provider's token routes (rate-limited with refresh).
pub(crate) fn token_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(token::token))
        .routes(routes!(revoke::revoke))
}

/// The rest.
pub(crate) fn other_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(discovery::configuration))
        .routes(routes!(userinfo::userinfo))
        .routes(routes!(logout::logout))
}

/// The provider's public keys, for the service's JWKS.
pub(crate) fn jwks(oidc: &OidcSettings) -> Vec<serde_json::Value> {
    oidc.keys.jwks()
}
