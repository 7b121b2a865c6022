//! Verifying identity tokens in an axum app with the extractor (feature `axum`).
//!
//! A native app sends the identity token Apple gave it as
//! `Authorization: Bearer <token>`; [`AppleIdentity`] verifies it (Apple's
//! keys, fetched and cached; issuer, audience, expiry) before the handler
//! runs, and answers 401 (or 503 when Apple's keys cannot be fetched)
//! otherwise.
//!
//! ```sh
//! cargo run -p siwa-kit --example axum_identity_token --features axum
//! # against the emulator: siwa emulator --config examples/emulator.toml --port 8081
//! SIWA_APPLE_BASE_URL=http://127.0.0.1:8081 SIWA_CLIENT_ID=com.example.ios \
//!   cargo run -p siwa-kit --example axum_identity_token --features axum
//! curl -H "Authorization: Bearer $ID_TOKEN" http://127.0.0.1:3000/me
//! ```

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use siwa_kit::axum::AppleIdentity;
use siwa_kit::client::{Api, Endpoints};
use siwa_kit::http::ReqwestClient;
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::Verifier;

/// Runs only for a verified token: the claims are Apple's, checked.
async fn me(AppleIdentity(claims): AppleIdentity) -> impl IntoResponse {
    let body = json!({
        "sub": claims.sub(),
        "email": claims.email(),
        "email_verified": claims.email_verified(),
        "is_private_email": claims.is_private_email(),
        "audience": claims.audience(),
    });
    ([(CONTENT_TYPE, "application/json")], body.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = setting("SIWA_APPLE_BASE_URL", "https://appleid.apple.com");
    let endpoints = Endpoints::new(&base, Api::default())?;
    // One key cache for the process: Apple's keys, refetched as they rotate.
    let keys = Arc::new(KeyCache::remote(
        endpoints.keys_uri().clone(),
        Arc::new(ReqwestClient::new()?),
    ));
    // The audiences accepted: your bundle IDs (and Services ID, for the web).
    let client_ids = setting("SIWA_CLIENT_ID", "com.example.ios")
        .split(',')
        .map(|id| ClientId::new(id.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = Arc::new(Verifier::new(keys, client_ids));
    let app = Router::new().route("/me", get(me)).with_state(verifier);

    let listen = setting("SIWA_LISTEN", "127.0.0.1:3000");
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("GET http://{listen}/me with Authorization: Bearer <identity token>");
    axum::serve(listener, app).await?;
    Ok(())
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
