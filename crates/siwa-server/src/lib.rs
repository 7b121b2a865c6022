//! # siwa-server: a self-hosted Sign in with Apple login service
//!
//! Web flow (`/auth/apple/login` -> Apple -> `/auth/apple/callback`), native
//! flow (`/auth/apple/native`), users persisted (SQLite or PostgreSQL), our own
//! sessions (short-lived access JWTs and rotating refresh tokens), Apple's
//! server-to-server notifications, and account deletion that revokes at Apple.
//!
//! The library exposes [`router`] for tests (`tower::ServiceExt::oneshot`) and
//! [`start`] for serving; `siwa serve` is a thin wrapper. [`openapi_json`] is
//! the OpenAPI 3.1 document of the routes, made from the route table itself.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod api;
pub mod app;
pub mod config;
mod cookies;
mod crypto;
pub mod daily_check;
pub mod deletion;
mod error;
mod forwarded;
pub mod keys;
pub mod limits;
mod metrics;
mod middleware;
mod notifications;
pub mod oidc;
mod ops;
mod pages;
mod readiness;
mod refresh;
mod request_id;
mod routes;
pub mod secrets;
mod session;
mod signin;
pub mod store;
pub mod transfer;
mod web;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::sync::oneshot;
use tower_http::timeout::TimeoutLayer;

pub use app::AppState;
pub use config::{ConfigError, RawSettings, Settings};
pub use keys::ServiceKeys;
pub use routes::json_text as openapi_json;

/// Largest request body (Apple's form_post and notifications are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take, Apple calls included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's routes. Serve them with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`start`] does):
/// the rate limits count clients by their address.
pub fn router(state: Arc<AppState>) -> Router {
    let routes::Routes {
        sign_in,
        web_api,
        refresh,
        open,
    } = routes::Routes::new(state.settings.oidc.is_some());
    let web_api = web_api
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.sign_in_limit),
            middleware::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            web::cors::cors,
        ));
    let sign_in = sign_in.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state.sign_in_limit),
        middleware::rate_limit,
    ));
    let refresh = refresh.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state.refresh_limit),
        middleware::rate_limit,
    ));
    let (routes, _document) = utoipa_axum::router::OpenApiRouter::new()
        .merge(sign_in)
        .merge(refresh)
        .merge(open)
        .merge(web_api)
        .split_for_parts();
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::header_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        // Outside the timeout, so a request cut short is timed with its 503;
        // inside the routing, so it sees each route's template.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.http(),
            metrics::observe_requests,
        ))
        .layer(axum::middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The shared state could not be built.
    #[error(transparent)]
    State(#[from] app::StateError),
    /// The database is unreachable or its schema could not be migrated.
    #[error("database {url}: {source}")]
    Store {
        /// The URL, password masked.
        url: String,
        /// The cause.
        #[source]
        source: store::StoreError,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Connects (and migrates) the store and builds the state, refusing to start on any problem.
pub async fn prepare(settings: Settings) -> Result<Arc<AppState>, StartError> {
    let store = store::connect(&settings.database_url)
        .await
        .map_err(|source| StartError::Store {
            url: settings.database_url.to_string(),
            source,
        })?;
    Ok(Arc::new(AppState::new(settings, Arc::from(store))?))
}

/// A running service; dropping it stops the server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The background workers: deletions, webhook deliveries, the daily check.
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, waiting at most 5 s for requests in flight.
    pub async fn stop(mut self) {
        self.workers.iter().for_each(tokio::task::JoinHandle::abort);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.workers.iter().for_each(tokio::task::JoinHandle::abort);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `state` on `addr` (port 0 for any) with its workers (deletions,
/// webhook deliveries, the daily check with Apple), in the background.
pub async fn start(state: Arc<AppState>, addr: &str) -> Result<RunningServer, StartError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.to_owned(),
            source,
        })?;
    start_on(state, listener)
}

/// Serves `state` on a bound listener (tests bind first to learn the port).
pub fn start_on(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
) -> Result<RunningServer, StartError> {
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: "the listener".to_owned(),
        source,
    })?;
    let mut workers = vec![
        deletion::spawn_worker(Arc::clone(&state)),
        webhooks::spawn_worker(Arc::clone(&state)),
    ];
    workers.extend(daily_check::spawn_worker(Arc::clone(&state)));
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state);
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "server stopped");
        }
    });
    tracing::info!(%addr, "siwa serve listening");
    Ok(RunningServer {
        addr,
        stop: Some(stop),
        task: Some(task),
        workers,
    })
}
