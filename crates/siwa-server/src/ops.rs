//! Operations routes: keys of our tokens, health, readiness, metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::AppState;
use crate::error::RETRY_AFTER_OUTAGE_SECS;
use crate::readiness::PROBE_BOUND;

/// `GET /.well-known/jwks.json`: the public keys of the access tokens we issue.
/// The session key, and with the OpenID Provider its RSA keys (every one:
/// a key being retired still verifies the ID tokens it signed).
pub(crate) async fn jwks(State(app): State<Arc<AppState>>) -> Response {
    let mut jwks = app.keys.jwks();
    if let (Some(oidc), Some(keys)) = (
        app.settings.oidc.as_deref(),
        jwks.get_mut("keys").and_then(|k| k.as_array_mut()),
    ) {
        keys.extend(crate::oidc::jwks(oidc));
    }
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(jwks)).into_response()
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database takes a write within [`PROBE_BOUND`] (the
/// verdict reused for a second). 200 `ready`, or 503 with `Retry-After`.
pub(crate) async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    let ready = match app.readiness.cached(now) {
        Some(ready) => ready,
        None => {
            let ready = match tokio::time::timeout(PROBE_BOUND, app.store.ping()).await {
                Ok(Ok(())) => true,
                // The store logs an outage once; other failures are logged here.
                Ok(Err(e)) => {
                    if e.outage().is_none() {
                        tracing::error!(error = %e, "readiness probe failed");
                    }
                    false
                }
                Err(_) => {
                    tracing::debug!("readiness probe took longer than its bound");
                    false
                }
            };
            app.readiness.remember(now, ready);
            ready
        }
    };
    if ready {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_AFTER_OUTAGE_SECS),
            )],
            "database unavailable",
        )
            .into_response()
    }
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    let pending = app.store.pending_deletions().await.unwrap_or(-1);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(pending, &app.store_health),
    )
        .into_response()
}
