//! What every route shares, built once at start from the settings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use siwa_kit::client::AppleClient;
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::http::{HttpClient, HttpError, ReqwestClient};
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache, SecretError};
use siwa_kit::Verifier;

use crate::config::{Settings, WebClient};
use crate::cookies::Cookies;
use crate::keys::ServiceKeys;
use crate::metrics::{AppleMetrics, Metrics, ObservedHttp, Scraped};
use crate::middleware::RateLimit;
use crate::readiness::{DeepReadiness, Readiness};
use crate::session::{Expected, TokenKind, VerifiedTokens};
use crate::store::{Observed, Store, StoreHealth};

/// Largest response read from Apple.
const MAX_APPLE_RESPONSE: usize = 256 * 1024;
/// Lifetime of the client secrets the service signs (renewed before expiry).
const CLIENT_SECRET_TTL: u64 = 3_600;

/// The service's shared state.
pub struct AppState {
    pub(crate) settings: Settings,
    /// The store, each call bounded and its outages logged and counted.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) readiness: Readiness,
    /// The verdict of `/readyz?deep=1`, remembered a while.
    pub(crate) deep_readiness: DeepReadiness,
    /// The service's own keys (from the settings).
    pub(crate) keys: Arc<ServiceKeys>,
    /// Identity tokens of the web flow: aud = one of the Services IDs, nothing else.
    pub(crate) web_verifier: Verifier,
    /// Identity tokens of native apps: aud = one of the bundle IDs, nothing else.
    pub(crate) native_verifier: Verifier,
    /// Server-to-server notifications: aud = any of our client ids.
    pub(crate) notification_verifier: Verifier,
    /// Apple's REST API per client id (the Services ID and each bundle ID).
    pub(crate) apple: HashMap<String, AppleClient>,
    /// The client secrets those clients send, one cache per client id.
    pub(crate) secrets: Vec<Arc<SecretCache>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Metrics,
    /// The sign-in routes' rate limit.
    pub(crate) sign_in_limit: Arc<RateLimit>,
    /// `POST /session/refresh`'s rate limit.
    pub(crate) refresh_limit: Arc<RateLimit>,
    pub(crate) cookies: Cookies,
    /// Access tokens and session cookies already verified.
    pub(crate) verified_tokens: VerifiedTokens,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why the shared state could not be built. Never the configuration
/// ([`Settings::load`] parsed it): what is left is the machine's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The HTTP client for Apple could not be built (TLS roots, system limits).
    #[error("cannot build the HTTP client for Apple: {0}")]
    Http(#[source] HttpError),
    /// A client secret could not be prepared.
    #[error("cannot prepare the client secrets: {0}")]
    Secret(#[source] SecretError),
}

/// The HTTP client for Apple of these settings (timeout, response cap).
pub fn apple_http(settings: &Settings) -> Result<Arc<dyn HttpClient>, StateError> {
    Ok(Arc::new(
        ReqwestClient::with_limits(
            Duration::from_secs(settings.apple_timeout_secs),
            MAX_APPLE_RESPONSE,
        )
        .map_err(StateError::Http)?,
    ))
}

/// Apple's REST API for `client_id`, with client secrets the settings' team
/// key signs (and renews before they expire).
pub fn apple_client(
    settings: &Settings,
    client_id: &ClientId,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
) -> Result<AppleClient, StateError> {
    let cache = secret_cache(settings, client_id, clock)?;
    Ok(AppleClient::from_cache(cache, http).endpoints(settings.apple.clone()))
}

/// The client secrets of `client_id`, signed by the settings' team key and
/// renewed before they expire.
fn secret_cache(
    settings: &Settings,
    client_id: &ClientId,
    clock: Arc<dyn Clock>,
) -> Result<Arc<SecretCache>, StateError> {
    let builder = ClientSecretBuilder::new(
        settings.team_id.clone(),
        settings.key_id.clone(),
        client_id.clone(),
    )
    .ttl_secs(CLIENT_SECRET_TTL)
    .map_err(StateError::Secret)?;
    Ok(Arc::new(SecretCache::new(
        builder,
        Arc::clone(&settings.apple_key),
        clock,
    )))
}

impl AppState {
    /// Builds the state: Apple's key cache, verifiers and clients, the limits.
    pub fn new(settings: Settings, store: Arc<dyn Store>) -> Result<Self, StateError> {
        Self::with_clock(settings, store, Arc::new(SystemClock))
    }

    /// As [`Self::new`], with an injected clock (tests).
    pub fn with_clock(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StateError> {
        // Every call to Apple (the key cache's and the clients') is counted.
        let apple_metrics = AppleMetrics::default();
        let http: Arc<dyn HttpClient> = Arc::new(ObservedHttp::new(
            apple_http(&settings)?,
            &settings.apple,
            apple_metrics.clone(),
        ));
        let key_cache = Arc::new(
            KeyCache::remote(settings.apple.keys_uri().clone(), Arc::clone(&http))
                .clock(Arc::clone(&clock)),
        );
        let services_ids: Vec<ClientId> =
            settings.web.iter().map(|w| w.client_id.clone()).collect();
        let web_verifier =
            Verifier::new(Arc::clone(&key_cache), services_ids.clone()).clock(Arc::clone(&clock));
        let native_verifier = Verifier::new(Arc::clone(&key_cache), settings.bundle_ids.clone())
            .clock(Arc::clone(&clock));
        let all_clients: Vec<ClientId> = settings
            .bundle_ids
            .iter()
            .cloned()
            .chain(services_ids)
            .collect();
        let notification_verifier =
            Verifier::new(key_cache, all_clients.clone()).clock(Arc::clone(&clock));
        let mut apple = HashMap::new();
        let mut secrets = Vec::new();
        for client_id in all_clients {
            let cache = secret_cache(&settings, &client_id, Arc::clone(&clock))?;
            let client = AppleClient::from_cache(Arc::clone(&cache), Arc::clone(&http))
                .endpoints(settings.apple.clone());
            apple.insert(client_id.as_str().to_owned(), client);
            secrets.push(cache);
        }
        let sign_in_limit = Arc::new(RateLimit::new(
            "sign-in",
            settings.rate_limits,
            settings.trusted_proxies.clone(),
        ));
        let refresh_limit = Arc::new(RateLimit::new(
            "refresh",
            settings.refresh_rate_limits,
            settings.trusted_proxies.clone(),
        ));
        let store_health = Arc::new(StoreHealth::new(settings.database_url.place()));
        let session_cache = store.session_cache();
        let store: Arc<dyn Store> = Arc::new(Observed::new(store, Arc::clone(&store_health)));
        let metrics = Metrics::new(
            &apple_metrics,
            Scraped::new(store_health, secrets.clone(), Arc::clone(&clock))
                .session_cache(session_cache),
        );
        Ok(Self {
            readiness: Readiness::default(),
            deep_readiness: DeepReadiness::default(),
            sign_in_limit,
            refresh_limit,
            cookies: Cookies::new(settings.secure_cookies()),
            keys: Arc::clone(&settings.service_keys),
            settings,
            store,
            web_verifier,
            native_verifier,
            notification_verifier,
            apple,
            secrets,
            clock,
            metrics,
            verified_tokens: VerifiedTokens::default(),
        })
    }

    /// Now, in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        i64::try_from(self.clock.now().secs()).unwrap_or(i64::MAX)
    }

    /// Apple's client for a client id (the Services ID or a bundle ID).
    pub(crate) fn apple_for(&self, client_id: &str) -> Option<&AppleClient> {
        self.apple.get(client_id)
    }

    /// The web front end of a Services ID.
    pub(crate) fn web_client(&self, client_id: &str) -> Option<&WebClient> {
        self.settings
            .web
            .iter()
            .find(|w| w.client_id.as_str() == client_id)
    }

    /// The primary web front end (the top-level `client_id`).
    pub(crate) fn primary_web(&self) -> &WebClient {
        // Settings::load always makes the primary client first.
        &self.settings.web[0]
    }

    /// The verifier of identity tokens issued to `client_id` (web or native).
    pub(crate) fn verifier_for(&self, client_id: &str) -> &Verifier {
        if self.web_client(client_id).is_some() {
            &self.web_verifier
        } else {
            &self.native_verifier
        }
    }

    /// What one of our tokens of `kind` must say now.
    pub(crate) fn expected(&self, kind: TokenKind) -> Expected<'_> {
        Expected {
            kind,
            issuer: &self.settings.public_url,
            audience: &self.settings.token_audience,
            now: self.now(),
        }
    }

    /// Sessions created at or before this are past their absolute lifetime.
    pub(crate) fn sessions_created_after(&self) -> i64 {
        self.now()
            .saturating_sub(i64::try_from(self.settings.session_max_age).unwrap_or(i64::MAX))
    }
}
