//! Operations routes: keys of our tokens, health, readiness, metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::RETRY_AFTER_OUTAGE_SECS;
use crate::metrics::Format;
use crate::readiness::{DeepReport, PROBE_BOUND};

/// The JWK Set of `/.well-known/jwks.json` as the document describes it (the
/// keys are made by their owners: [`crate::keys::ServiceKeys::jwks`] and the
/// provider's signing keys).
#[derive(Serialize, ToSchema)]
#[schema(as = JwkSet)]
pub(crate) struct JwkSetSchema {
    keys: Vec<JwkSchema>,
}

/// One public key (RFC 7517): EC P-256 for the service's access tokens, RSA
/// for the OpenID Provider's ID tokens.
#[derive(Serialize, ToSchema)]
#[schema(as = Jwk)]
pub(crate) struct JwkSchema {
    /// `EC` or `RSA`.
    kty: String,
    kid: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
    /// EC: `P-256`.
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    /// RSA modulus and exponent.
    n: Option<String>,
    e: Option<String>,
}

/// `GET /.well-known/jwks.json`: the public keys of the access tokens we issue.
/// The session key, and with the OpenID Provider its RSA keys (every one:
/// a key being retired still verifies the ID tokens it signed).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "operations",
    summary = "The public keys of the service's tokens",
    responses((status = 200, description = "The JWK Set", body = JwkSetSchema))
)]
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
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness (no database)",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database takes a write within [`PROBE_BOUND`] (the
/// verdict reused for a second). 200 `ready`, or 503 with `Retry-After`.
///
/// `GET /readyz?deep=1`: the cheap checks of `siwa doctor --config` as JSON
/// `{"ready","checks":[{"id","ok","message"}]}` (`database`, `service_keys`,
/// `client_secret`, `apple_keys`):
/// never a call to Apple, the verdict reused for a few seconds.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the database takes a write (deep: the service's own checks)",
    params(
        ("deep" = Option<String>, Query, description = "`1`: run the deep checks (database migrated, service keys, client secrets, Apple's keys) and answer JSON; reused for 5 s, never calls Apple"),
    ),
    responses(
        (status = 200, description = "`ready` (deep: the report, every check ok)", content(
            (String = "text/plain"),
            (DeepReport = "application/json"),
        )),
        (status = 503, description = "`database unavailable` (`Retry-After`): take the replica out (deep: the report, a check failed)", content(
            (String = "text/plain"),
            (DeepReport = "application/json"),
        )),
    )
)]
pub(crate) async fn readyz(
    State(app): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    if wants_deep(query.as_deref()) {
        return deep_readyz(&app).await;
    }
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

/// `deep=1` (or `true`, `yes`) among the query's pairs.
fn wants_deep(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|pair| pair.strip_prefix("deep="))
            .any(|v| matches!(v, "1" | "true" | "yes"))
    })
}

async fn deep_readyz(app: &AppState) -> Response {
    let report = app.deep_readiness.verdict(app).await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(report.as_ref().clone()),
    )
        .into_response();
    if !report.ready {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_OUTAGE_SECS),
        );
    }
    response
}

/// `GET /metrics`: OpenMetrics text when the scraper's `Accept` names it (as
/// Prometheus's does), Prometheus text 0.0.4 otherwise.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses((status = 200, description = "The metrics: Prometheus text 0.0.4, or OpenMetrics text when `Accept` asks for `application/openmetrics-text`", content(
        (String = "text/plain"),
        (String = "application/openmetrics-text"),
    )))
)]
pub(crate) async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(
        headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok()),
    );
    let pending = app.store.pending_deletions().await.unwrap_or(-1);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        app.metrics.render(pending, format),
    )
        .into_response()
}
