//! What every route shares, built once at start from the settings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use siwa_kit::client::{AppleClient, Endpoints, RedirectUri};
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::http::{HttpClient, ReqwestClient};
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::KeyCache;
use siwa_kit::p8::{KeyInput, SigningKey};
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::Verifier;

use crate::config::{ConfigError, Settings};
use crate::cookies::Cookies;
use crate::keys::ServiceKeys;
use crate::metrics::Metrics;
use crate::middleware::RateLimit;
use crate::ops::Readiness;
use crate::session::{Expected, TokenKind, VerifiedTokens};
use crate::store::{place_of, Observed, Store, StoreHealth};

/// Largest response read from Apple.
const MAX_APPLE_RESPONSE: usize = 256 * 1024;
/// Lifetime of the client secrets the service signs (renewed before expiry).
const CLIENT_SECRET_TTL: u64 = 3_600;

/// The service's shared state.
pub struct AppState {
    pub(crate) settings: Settings,
    /// The store, each call bounded and its outages logged and counted.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) store_health: Arc<StoreHealth>,
    pub(crate) readiness: Readiness,
    pub(crate) keys: ServiceKeys,
    /// Identity tokens of the web flow: aud = the Services ID, nothing else.
    pub(crate) web_verifier: Verifier,
    /// Identity tokens of native apps: aud = one of the bundle IDs, nothing else.
    pub(crate) native_verifier: Verifier,
    /// Server-to-server notifications: aud = any of our client ids.
    pub(crate) notification_verifier: Verifier,
    /// Apple's REST API per client id (the Services ID and each bundle ID).
    pub(crate) apple: HashMap<String, AppleClient>,
    pub(crate) redirect_uri: RedirectUri,
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

impl AppState {
    /// Builds the state: loads the .p8 and the service keys, prepares Apple's clients.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: ServiceKeys,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(settings, store, keys, Arc::new(SystemClock))
    }

    /// As [`Self::new`], with an injected clock (tests).
    pub fn with_clock(
        settings: Settings,
        store: Arc<dyn Store>,
        keys: ServiceKeys,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let apple_key = Arc::new(load_apple_key(&settings.private_key)?);
        let http: Arc<dyn HttpClient> = Arc::new(
            ReqwestClient::with_limits(
                Duration::from_secs(settings.apple_timeout_secs),
                MAX_APPLE_RESPONSE,
            )
            .map_err(|e| {
                ConfigError::new(
                    "apple_base_url",
                    format!("cannot build the HTTP client: {e}"),
                )
            })?,
        );
        let endpoints = Endpoints::new(&settings.apple_base_url, settings.api)
            .map_err(|e| ConfigError::new("apple_base_url", e.to_string()))?;
        let key_cache = Arc::new(
            KeyCache::remote(endpoints.keys_uri().clone(), Arc::clone(&http))
                .clock(Arc::clone(&clock)),
        );
        let web_verifier = Verifier::new(Arc::clone(&key_cache), [settings.client_id.clone()])
            .clock(Arc::clone(&clock));
        let native_verifier = Verifier::new(Arc::clone(&key_cache), settings.bundle_ids.clone())
            .clock(Arc::clone(&clock));
        let all_clients: Vec<ClientId> = settings
            .bundle_ids
            .iter()
            .cloned()
            .chain(std::iter::once(settings.client_id.clone()))
            .collect();
        let notification_verifier =
            Verifier::new(key_cache, all_clients.clone()).clock(Arc::clone(&clock));
        let mut apple = HashMap::new();
        for client_id in all_clients {
            let builder = ClientSecretBuilder::new(
                settings.team_id.clone(),
                settings.key_id.clone(),
                client_id.clone(),
            )
            .ttl_secs(CLIENT_SECRET_TTL)
            .map_err(|e| ConfigError::new("client_id", e.to_string()))?;
            let cache = Arc::new(SecretCache::new(
                builder,
                Arc::clone(&apple_key),
                Arc::clone(&clock),
            ));
            let client =
                AppleClient::from_cache(cache, Arc::clone(&http)).endpoints(endpoints.clone());
            apple.insert(client_id.as_str().to_owned(), client);
        }
        let redirect_uri = RedirectUri::new(settings.redirect_uri.clone())
            .map_err(|e| ConfigError::new("redirect_uri", e.to_string()))?;
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
        let store_health = Arc::new(StoreHealth::new(place_of(&settings.database_url)));
        let store: Arc<dyn Store> = Arc::new(Observed::new(store, Arc::clone(&store_health)));
        Ok(Self {
            store_health,
            readiness: Readiness::default(),
            sign_in_limit,
            refresh_limit,
            cookies: Cookies::new(settings.secure_cookies()),
            settings,
            store,
            keys,
            web_verifier,
            native_verifier,
            notification_verifier,
            apple,
            redirect_uri,
            clock,
            metrics: Metrics::default(),
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

    /// Apple's client of the web flow.
    pub(crate) fn apple_web(&self) -> Option<&AppleClient> {
        self.apple.get(self.settings.client_id.as_str())
    }

    /// The verifier of identity tokens issued to `client_id` (web or native).
    pub(crate) fn verifier_for(&self, client_id: &str) -> &Verifier {
        if client_id == self.settings.client_id.as_str() {
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

/// Reads the team's .p8 from the `private_key` setting (a path or PEM text).
fn load_apple_key(setting: &str) -> Result<SigningKey, ConfigError> {
    let pem = match KeyInput::from_setting(setting) {
        KeyInput::Pem(pem) => pem,
        KeyInput::Path(path) => {
            zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new(
                    "private_key",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?)
        }
    };
    SigningKey::from_pem(&pem)
        .map_err(|e| ConfigError::new("private_key", format!("{e}; {}", e.hint())))
}
