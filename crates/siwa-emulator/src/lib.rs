//! # siwa-emulator: a local appleid.apple.com
//!
//! A faithful stand-in for Apple's Sign in with Apple endpoints, so a service
//! can be built and tested with no Apple account, device or public HTTPS URL:
//!
//! - Apple's routes, with Apple's shapes and error codes: `GET /auth/authorize`
//!   (a consent page), `POST /auth/token`, `GET /auth/keys`, `POST /auth/revoke`,
//!   and the same under `/auth/oauth2/v2/` (Account & Organizational Data Sharing).
//! - Team transfer, as Apple runs it: the client-credentials grant
//!   (`scope=user.migration`) and `POST /auth/usermigrationinfo` in both
//!   directions (see `transfer`).
//! - Routes for scripts and tests under `/emulator/`: scripted consent
//!   (`emulator_user` on the authorize URL), `/emulator/native`,
//!   `/emulator/notify`, `/emulator/rotate-keys`, `/emulator/faults`,
//!   `/emulator/transfer` (the app moves to another team),
//!   `/emulator/revocations`, `/emulator/stats` (requests per route).
//!
//! Its judgement of a `client_secret` is its own code (`client_auth`), not
//! siwa-kit's doctor or verifier: a shared bug would hide itself.
//!
//! A configuration comes from a TOML file ([`Config::from_file`]) or from
//! code: [`ConfigBuilder`] builds the same configuration in process, or
//! writes the file for another process.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use siwa_emulator::{Config, Emulator};
//! let config = Config::from_file("emulator.toml".as_ref())?;
//! let running = Emulator::new(config)?.start("127.0.0.1:0".parse()?).await?;
//! println!("Apple is at {}", running.base_url());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod apple;
mod apple_js;
mod builder;
mod client_auth;
mod config;
mod control;
mod faults;
mod keys;
mod mint;
mod pages;
mod random;
mod reply;
mod state;
mod transfer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use siwa_kit::clock::{Clock, SystemClock, UnixTime};
use thiserror::Error;
use tokio::sync::oneshot;

pub use builder::{ConfigBuilder, TeamBuilder, UserBuilder};
pub use config::{
    Config, ConfigError, RawClient, RawConfig, RawKey, RawTeam, RawUser, APPLE_ISSUER,
};
pub use keys::KeyGenError;

use crate::faults::{Faults, Stats};
use crate::keys::SigningKeys;
use crate::mint::{id_token_claims, notification_claims, Binding};
use crate::reply::Refusal;
use crate::state::{Grant, Store};

/// Largest request body the emulator reads (forms and JSON are small).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a notification delivery may take.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the emulator could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The signing key could not be generated.
    #[error(transparent)]
    KeyGen(#[from] KeyGenError),
    /// The state file could not be read.
    #[error("state file: {0}")]
    State(#[source] std::io::Error),
    /// The notification client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

/// An emulator, ready to serve.
#[derive(Clone, Debug)]
pub struct Emulator {
    app: Arc<App>,
}

/// Options of an emulator beyond its configuration.
#[derive(Debug, Default)]
pub struct Options {
    /// The clock for code and token lifetimes and `iat` (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Keep users' authorizations and refresh tokens in this file across restarts.
    pub state_file: Option<PathBuf>,
}

impl Emulator {
    /// An emulator with the system clock and no state file.
    pub fn new(config: Config) -> Result<Self, EmulatorError> {
        Self::with_options(config, Options::default())
    }

    /// An emulator with explicit options.
    pub fn with_options(config: Config, options: Options) -> Result<Self, EmulatorError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(NOTIFY_TIMEOUT)
            .build()
            .map_err(|e| EmulatorError::Http(e.to_string()))?;
        Ok(Self {
            app: Arc::new(App {
                keys: SigningKeys::new()?,
                store: Store::open(options.state_file).map_err(EmulatorError::State)?,
                faults: Faults::default(),
                stats: Stats::default(),
                clock: options.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                http,
                config,
            }),
        })
    }

    /// The routes, for serving or for `tower::ServiceExt::oneshot` in tests.
    pub fn router(&self) -> Router {
        let apple = Router::new()
            .route("/authorize", get(apple::authorize))
            .route("/token", post(apple::token))
            .route("/keys", get(apple::keys))
            .route("/revoke", post(apple::revoke));
        Router::new()
            .route(
                "/auth/usermigrationinfo",
                post(transfer::user_migration_info),
            )
            .nest("/auth", apple.clone())
            .nest("/auth/oauth2/v2", apple)
            .route("/emulator/consent", post(apple::consent))
            .route("/emulator/native", post(control::native))
            .route("/emulator/notify", post(control::notify))
            .route("/emulator/rotate-keys", post(control::rotate_keys))
            .route(
                "/emulator/faults",
                post(control::add_fault)
                    .get(control::list_faults)
                    .delete(control::clear_faults),
            )
            .route("/emulator/transfer", post(transfer::transfer))
            .route("/emulator/revocations", get(control::revocations))
            .route("/emulator/stats", get(control::stats))
            .route(apple_js::SCRIPT_PATH, get(apple_js::script))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.app),
                faults::inject,
            ))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&self.app))
    }

    /// Binds `addr` and serves in the background until the handle is stopped or dropped.
    pub async fn start(self, addr: SocketAddr) -> Result<RunningEmulator, std::io::Error> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        tracing::info!(%addr, "emulator listening");
        Ok(RunningEmulator {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A serving emulator; dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the `apple_base_url` to give clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the server task (at most 5 s).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Everything the routes share.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) keys: SigningKeys,
    pub(crate) store: Store,
    pub(crate) faults: Faults,
    pub(crate) stats: Stats,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
}

impl App {
    pub(crate) fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Signs an identity token for `grant` with the current key.
    pub(crate) fn sign_id_token(
        &self,
        grant: &Grant,
        binding: Binding<'_>,
        with_nonce: bool,
        now: u64,
    ) -> Result<String, Refusal> {
        let Some(user) = self.config.user(&grant.user_id) else {
            return Err(Refusal::new(
                "invalid_grant",
                "the user of this grant is no longer configured",
            ));
        };
        let transfer_sub =
            self.transfer_sub_claim(&grant.client_id, &grant.team_id, &grant.user_id, now);
        let claims = id_token_claims(
            &self.config,
            grant,
            user,
            binding,
            with_nonce,
            transfer_sub,
            now,
        );
        self.keys
            .current()
            .sign(&claims)
            .map_err(|_| Refusal::new("server_error", "signing failed"))
    }

    /// Issues an authorization code for `grant` (5 minutes, single use) and
    /// records the authorization; `true` when it is the user's first for
    /// this client (Apple then sends the `user` JSON).
    pub(crate) fn issue_code(
        &self,
        grant: &Grant,
        redirect_uri: Option<String>,
        now: u64,
    ) -> (String, bool) {
        let code = random::apple_token('c');
        let mut inner = self.store.lock();
        let first = inner
            .durable
            .authorized
            .insert((grant.user_id.clone(), grant.client_id.clone()));
        let pair = (grant.user_id.clone(), grant.client_id.clone());
        if grant.hide_email {
            inner.durable.hidden_email.insert(pair);
        } else {
            inner.durable.hidden_email.remove(&pair);
        }
        inner.sweep_expired(now);
        inner.codes.insert(
            code.clone(),
            state::CodeGrant {
                grant: grant.clone(),
                redirect_uri,
                expires_at: now + state::CODE_TTL_SECS,
                used: false,
            },
        );
        self.store.save(&inner);
        (code, first)
    }

    /// Revokes the user's refresh tokens for the client and forgets the
    /// authorization, so the next sign-in sends `user` again (as Apple does).
    pub(crate) fn forget_authorization(&self, grant: &Grant) {
        let mut inner = self.store.lock();
        inner
            .durable
            .authorized
            .remove(&(grant.user_id.clone(), grant.client_id.clone()));
        for rt in inner.durable.refresh_tokens.values_mut() {
            if rt.grant.user_id == grant.user_id && rt.grant.client_id == grant.client_id {
                rt.revoked = true;
            }
        }
        self.store.save(&inner);
    }

    /// Signs an event and POSTs `{"payload": JWT}` to `notification_url`; the receiver's status.
    /// Sends a signed event to `notification_url`; as Apple does, a delivery
    /// that is not answered 2xx is sent again (the same payload, the same
    /// `jti`), up to `retries` more times. The status of each attempt.
    pub(crate) async fn notify(
        &self,
        grant: &Grant,
        kind: &str,
        retries: u32,
    ) -> Result<Vec<u16>, String> {
        let url = self
            .config
            .notification_url
            .as_deref()
            .ok_or("no notification_url configured")?;
        let user = self.config.user(&grant.user_id).ok_or("unknown user")?;
        let jti = random::b64url(&random::random_bytes(16));
        let claims = notification_claims(&self.config, grant, user, kind, &jti, self.now().secs());
        let payload = self
            .keys
            .current()
            .sign(&claims)
            .map_err(|e| e.to_string())?;
        let body = serde_json::json!({ "payload": payload }).to_string();
        if self.faults.drops_notification() {
            tracing::info!(kind, "notification dropped by a fault (never sent)");
            return Ok(Vec::new());
        }
        let mut statuses = Vec::new();
        for _ in 0..=retries {
            let response = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| format!("cannot deliver to {url}: {e}"))?;
            let status = response.status().as_u16();
            tracing::info!(kind, status, "notification delivered");
            statuses.push(status);
            if response.status().is_success() {
                break;
            }
        }
        Ok(statuses)
    }
}
