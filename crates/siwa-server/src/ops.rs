//! Operations routes: keys of our tokens, health, readiness, metrics.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::AppState;
use crate::error::RETRY_AFTER_OUTAGE_SECS;

/// How long a readiness verdict is reused.
const READY_FOR: Duration = Duration::from_secs(1);
/// The longest the readiness probe may take: a load balancer gets its answer within a second.
const PROBE_BOUND: Duration = Duration::from_millis(800);

/// This replica's readiness: a bounded write probe of the database, reused
/// for [`READY_FOR`], so that load balancers polling it cost one tiny write a
/// second at most.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    fn cached(&self, now: Instant) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.filter(|(at, _)| now.saturating_duration_since(*at) < READY_FOR)
            .map(|(_, ready)| ready)
    }

    fn remember(&self, now: Instant, ready: bool) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((now, ready));
    }
}

/// `GET /.well-known/jwks.json`: the public keys of the access tokens we issue.
pub(crate) async fn jwks(State(app): State<Arc<AppState>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.keys.jwks()),
    )
        .into_response()
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database takes a write within [`PROBE_BOUND`] (the
/// verdict reused for [`READY_FOR`]). 200 `ready`, or 503 with `Retry-After`.
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
