//! Apple's key set (`GET https://appleid.apple.com/auth/keys`) and a cache of
//! it.
//!
//! [`KeySet`] holds keys parsed once into ready-to-verify [`RsaPublicKey`]s;
//! keys that cannot sign Apple's tokens (not RSA, under 2048 bits, `use` not
//! `sig`, `alg` not `RS256`) are kept with the reason, so a token naming one
//! gets that reason rather than "unknown kid".
//!
//! [`KeyCache`] serves keys to verifiers:
//! - the set lives for the response's `Cache-Control: max-age` (bounded by
//!   [`KeyCache::ttl_bounds_secs`], [`DEFAULT_TTL_SECS`] when absent);
//! - an unknown kid triggers one refetch shared by every caller waiting on it
//!   (single flight), and at most one refetch per
//!   [`KeyCache::refetch_interval_secs`], so forged kids cannot make us hammer
//!   Apple;
//! - when Apple cannot be reached, the keys in hand keep verifying for
//!   [`KeyCache::stale_grace_secs`] past their expiry (stale-if-error);
//! - a fetch has a timeout and a response-size limit.
//!
//! A cache built from a file or a value ([`KeyCache::from_jwks`]) never
//! touches the network.
//!
//! Time-based decisions read the injectable [`Clock`]; waiting for a fetch
//! uses tokio's timer, so a remote cache must be used inside a tokio runtime
//! with time enabled.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::clock::{Clock, SystemClock, UnixTime};
use crate::http::{HttpClient, HttpError};
use crate::jws::{self, RsaKeyError, RsaPublicKey};

/// Apple's key set for Sign in with Apple.
pub const APPLE_JWKS_URL: &str = "https://appleid.apple.com/auth/keys";
/// How long a fetched set is fresh when the response names no `max-age`: 1 h.
pub const DEFAULT_TTL_SECS: u64 = 3_600;
/// Shortest freshness honoured, whatever `max-age` says: 1 min.
pub const DEFAULT_MIN_TTL_SECS: u64 = 60;
/// Longest freshness honoured, whatever `max-age` says: 24 h.
pub const DEFAULT_MAX_TTL_SECS: u64 = 86_400;
/// At most one fetch per this many seconds, however many unknown kids come: 30 s.
pub const DEFAULT_REFETCH_INTERVAL_SECS: u64 = 30;
/// How long expired keys keep verifying while Apple cannot be reached: 6 h.
pub const DEFAULT_STALE_GRACE_SECS: u64 = 6 * 3_600;
/// Time allowed for one fetch: 10 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest key set response accepted: 256 KiB (Apple's is about 2.5 KB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// One JSON Web Key, as a key set publishes it. Members other than these are
/// ignored.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type: `RSA` for Apple.
    pub kty: String,
    /// Key id, matched against a token's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use: `sig` for Apple.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Algorithm: `RS256` for Apple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Permitted operations, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    /// An RS256 signing key as Apple publishes one, from its big-endian
    /// modulus and exponent.
    pub fn rsa(kid: impl Into<String>, n: &[u8], e: &[u8]) -> Self {
        Self {
            kty: "RSA".to_owned(),
            kid: Some(kid.into()),
            key_use: Some("sig".to_owned()),
            alg: Some("RS256".to_owned()),
            key_ops: None,
            n: Some(jws::encode(n)),
            e: Some(jws::encode(e)),
        }
    }

    /// The key parsed for RS256, or why it cannot verify Apple's tokens.
    pub fn to_rsa_key(&self) -> Result<RsaPublicKey, KeyProblem> {
        if self.kty != "RSA" {
            return Err(KeyProblem::NotRsa {
                kty: cut(&self.kty),
            });
        }
        if let Some(found) = self.key_use.as_deref().filter(|u| *u != "sig") {
            return Err(KeyProblem::Use { found: cut(found) });
        }
        if let Some(found) = self.alg.as_deref().filter(|a| *a != "RS256") {
            return Err(KeyProblem::Alg { found: cut(found) });
        }
        if let Some(ops) = self
            .key_ops
            .as_ref()
            .filter(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err(KeyProblem::KeyOps {
                found: ops.iter().take(8).map(|op| cut(op)).collect(),
            });
        }
        let n = decode_member(self.n.as_deref(), "n")?;
        let e = decode_member(self.e.as_deref(), "e")?;
        Ok(RsaPublicKey::from_components(&n, &e)?)
    }
}

/// A JSON Web Key Set: `{"keys":[...]}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub struct JwkSet {
    /// The keys, in the order published.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set of these keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        Self { keys }
    }

    /// Parses a key set document (strict JSON: UTF-8, no duplicate members).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let text = jws::strict_json_text(bytes).map_err(|reason| JwksError::Json { reason })?;
        serde_json::from_str(text).map_err(|e| JwksError::Shape {
            reason: e.to_string(),
        })
    }

    /// The set as JSON, as `/auth/keys` serves it.
    pub fn to_json(&self) -> String {
        // A struct of strings serializes without fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Why a key set document could not be read.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not strict JSON.
    #[error("the key set is not strict JSON: {reason}")]
    Json {
        /// What is wrong.
        reason: String,
    },
    /// JSON, but not `{"keys":[{"kty":..,..}]}`.
    #[error("the key set is not shaped as {{\"keys\":[...]}}: {reason}")]
    Shape {
        /// What is wrong.
        reason: String,
    },
}

impl JwksError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        "pass the JSON served by https://appleid.apple.com/auth/keys (or the emulator's /auth/keys), unchanged"
    }
}

/// Why a key in a set cannot verify Apple's tokens.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// `kty` is not `RSA`.
    #[error("its kty is {kty:?}; Apple's tokens are signed with RSA keys")]
    NotRsa {
        /// The key type given.
        kty: String,
    },
    /// `use` is there and is not `sig`.
    #[error("its use is {found:?}, not \"sig\"")]
    Use {
        /// The use given.
        found: String,
    },
    /// `alg` is there and is not `RS256`.
    #[error("its alg is {found:?}, not \"RS256\"")]
    Alg {
        /// The algorithm given.
        found: String,
    },
    /// `key_ops` is there and does not allow `verify`.
    #[error("its key_ops {found:?} do not include \"verify\"")]
    KeyOps {
        /// The operations given.
        found: Vec<String>,
    },
    /// `n` or `e` is missing.
    #[error("it has no {member:?}")]
    Missing {
        /// `n` or `e`.
        member: &'static str,
    },
    /// `n` or `e` is not canonical unpadded base64url.
    #[error("its {member:?} is not canonical unpadded base64url")]
    Encoding {
        /// `n` or `e`.
        member: &'static str,
    },
    /// The RSA key itself is refused (too small, bad exponent, malformed).
    #[error(transparent)]
    Rsa(#[from] RsaKeyError),
    /// Two keys in the set share this kid, so a token cannot say which.
    #[error("its kid appears more than once in the set")]
    DuplicateKid,
}

impl KeyProblem {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NotRsa { .. } | Self::Use { .. } | Self::Alg { .. } | Self::KeyOps { .. } => {
                "Apple signs identity tokens with RSA keys marked use sig, alg RS256: use Apple's /auth/keys, unchanged"
            }
            Self::Missing { .. } | Self::Encoding { .. } => {
                "take the key set unchanged from /auth/keys: n and e are unpadded base64url"
            }
            Self::Rsa(e) => e.hint(),
            Self::DuplicateKid => "a key set must name each key once; fetch a fresh copy of /auth/keys",
        }
    }
}

/// Keys parsed once, by kid.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
}

/// One kid of a [`KeySet`]: a ready key, or why it cannot be used.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    kid: String,
    key: Result<Arc<RsaPublicKey>, KeyProblem>,
}

impl KeyEntry {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The parsed key, or why the key cannot be used.
    pub fn key(&self) -> Result<&Arc<RsaPublicKey>, &KeyProblem> {
        self.key.as_ref()
    }
}

impl KeySet {
    /// Parses every key of `set` once. Keys without a kid are left out (a
    /// token could not name them); unusable keys are kept with the reason.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let Some(kid) = jwk.kid.as_deref() else {
                continue;
            };
            if let Some(existing) = entries.iter_mut().find(|e| e.kid == kid) {
                existing.key = Err(KeyProblem::DuplicateKid);
                continue;
            }
            entries.push(KeyEntry {
                kid: kid.to_owned(),
                key: jwk.to_rsa_key().map(Arc::new),
            });
        }
        Self { entries }
    }

    /// The entry for `kid`.
    pub fn find(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.kid == kid)
    }

    /// Every entry, in the order published.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The kids in the set, in the order published.
    pub fn kids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.kid.clone()).collect()
    }

    /// The key for `kid`, ready to verify.
    pub fn key(&self, kid: &str) -> Result<Arc<RsaPublicKey>, KeyLookupError> {
        match self.find(kid) {
            Some(KeyEntry { key: Ok(key), .. }) => Ok(Arc::clone(key)),
            Some(KeyEntry {
                key: Err(problem), ..
            }) => Err(KeyLookupError::Unusable {
                kid: cut(kid),
                problem: problem.clone(),
            }),
            None => Err(KeyLookupError::UnknownKid {
                kid: cut(kid),
                known: self.kids(),
            }),
        }
    }
}

/// Why no key was found to verify a token.
#[derive(Clone, Debug, Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// No key with this kid, even after a refetch (or a refetch was not
    /// allowed yet).
    #[error("no key with kid {kid:?} in the key set (it has {known:?})")]
    UnknownKid {
        /// The token's kid (cut at 64 characters).
        kid: String,
        /// The kids the set has.
        known: Vec<String>,
    },
    /// The key with this kid cannot verify Apple's tokens.
    #[error("the key {kid:?} cannot verify tokens: {problem}")]
    Unusable {
        /// The kid.
        kid: String,
        /// Why.
        #[source]
        problem: KeyProblem,
    },
    /// No key set was ever fetched: the fetch failed.
    #[error("the key set could not be fetched")]
    Unavailable {
        /// The last fetch's failure.
        #[source]
        source: Arc<FetchError>,
    },
    /// The keys in hand are past their freshness and the grace period, and
    /// could not be refreshed.
    #[error("the cached key set expired at {expired_at} and could not be refreshed")]
    Expired {
        /// End of the grace period.
        expired_at: UnixTime,
        /// The last fetch's failure, if one was tried.
        #[source]
        source: Option<Arc<FetchError>>,
    },
}

impl KeyLookupError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::UnknownKid { .. } => {
                "the token was signed by a key not in the set: forged, or from another issuer; with a key file, fetch a current one from /auth/keys"
            }
            Self::Unusable { .. } => "Apple signs with RSA (2048 bits or more) RS256 keys; this key set holds another kind under that kid",
            Self::Unavailable { .. } | Self::Expired { .. } => {
                "the service cannot reach Apple's /auth/keys: check outbound HTTPS, DNS and proxies; tokens cannot be verified until it can"
            }
        }
    }
}

/// Why fetching the key set failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No response within the fetch timeout.
    #[error("fetching {url} timed out after {} ms", after.as_millis())]
    Timeout {
        /// The key set URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The request failed.
    #[error("fetching {url} failed: {source}")]
    Http {
        /// The key set URL.
        url: String,
        /// The client's error.
        #[source]
        source: HttpError,
    },
    /// An answer other than 200.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The key set URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// An answer larger than the limit.
    #[error("{url} answered with {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The key set URL.
        url: String,
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The last fetch was abandoned before it finished (its caller went away).
    #[error("the last fetch of {url} was abandoned before it finished")]
    Interrupted {
        /// The key set URL.
        url: String,
    },
    /// An answer that is not a key set.
    #[error("{url} answered with no valid key set: {source}")]
    Jwks {
        /// The key set URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: JwksError,
    },
}

impl FetchError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Timeout { .. } | Self::Http { .. } | Self::Interrupted { .. } => {
                "check outbound HTTPS to the key set URL (DNS, proxies, firewalls); the keys in hand serve meanwhile"
            }
            Self::Status { .. } | Self::TooLarge { .. } | Self::Jwks { .. } => {
                "check the key set URL: Apple's is https://appleid.apple.com/auth/keys (the emulator's: <base>/auth/keys)"
            }
        }
    }
}

/// Serves keys to verifiers: from a fixed set, or from a URL with caching,
/// single-flight refetches, rate limiting and stale-if-error.
pub struct KeyCache {
    source: Source,
    clock: Arc<dyn Clock>,
    timing: Timing,
    snapshot: ArcSwap<Snapshot>,
    flight: tokio::sync::Mutex<Flight>,
    /// Completed fetch attempts; tells a waiter that a fetch ran while it waited.
    attempts: AtomicU64,
}

enum Source {
    Fixed,
    Remote {
        url: http::Uri,
        http: Arc<dyn HttpClient>,
    },
}

#[derive(Clone, Copy, Debug)]
struct Timing {
    default_ttl: u64,
    min_ttl: u64,
    max_ttl: u64,
    refetch_interval: u64,
    stale_grace: u64,
    fetch_timeout: Duration,
    max_response_bytes: usize,
}

struct Snapshot {
    keys: KeySet,
    /// Whether a set was ever loaded.
    loaded: bool,
    /// Fresh before this time; `None` for a fixed set (always fresh).
    fresh_until: Option<UnixTime>,
    /// Usable (stale-if-error) before this time.
    usable_until: Option<UnixTime>,
}

impl Snapshot {
    fn is_fresh(&self, now: UnixTime) -> bool {
        self.loaded && self.fresh_until.is_none_or(|t| now < t)
    }

    fn is_usable(&self, now: UnixTime) -> bool {
        self.loaded && self.usable_until.is_none_or(|t| now < t)
    }
}

#[derive(Default)]
struct Flight {
    last_attempt: Option<UnixTime>,
    last_error: Option<Arc<FetchError>>,
}

impl KeyCache {
    /// A cache of a fixed set: no network, never expires.
    pub fn from_jwks(set: &JwkSet) -> Self {
        Self::with_snapshot(
            Source::Fixed,
            Snapshot {
                keys: KeySet::from_jwks(set),
                loaded: true,
                fresh_until: None,
                usable_until: None,
            },
        )
    }

    /// A cache of a fixed set read from JSON (a saved `/auth/keys` response).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        Ok(Self::from_jwks(&JwkSet::from_json(bytes)?))
    }

    /// A cache that fetches the set from `url` with `http`, on first use.
    pub fn remote(url: http::Uri, http: Arc<dyn HttpClient>) -> Self {
        Self::with_snapshot(
            Source::Remote { url, http },
            Snapshot {
                keys: KeySet::default(),
                loaded: false,
                fresh_until: Some(UnixTime::from_secs(0)),
                usable_until: Some(UnixTime::from_secs(0)),
            },
        )
    }

    /// A cache of Apple's own key set ([`APPLE_JWKS_URL`]).
    pub fn apple(http: Arc<dyn HttpClient>) -> Self {
        Self::remote(http::Uri::from_static(APPLE_JWKS_URL), http)
    }

    fn with_snapshot(source: Source, snapshot: Snapshot) -> Self {
        Self {
            source,
            clock: Arc::new(SystemClock),
            timing: Timing {
                default_ttl: DEFAULT_TTL_SECS,
                min_ttl: DEFAULT_MIN_TTL_SECS,
                max_ttl: DEFAULT_MAX_TTL_SECS,
                refetch_interval: DEFAULT_REFETCH_INTERVAL_SECS,
                stale_grace: DEFAULT_STALE_GRACE_SECS,
                fetch_timeout: DEFAULT_FETCH_TIMEOUT,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            },
            snapshot: ArcSwap::from_pointee(snapshot),
            flight: tokio::sync::Mutex::new(Flight::default()),
            attempts: AtomicU64::new(0),
        }
    }

    /// The clock for freshness, grace and rate limits (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Freshness when the response names no `max-age` (default [`DEFAULT_TTL_SECS`]).
    pub fn default_ttl_secs(mut self, secs: u64) -> Self {
        self.timing.default_ttl = secs;
        self
    }

    /// Bounds on the freshness a response's `max-age` may ask for (default
    /// [`DEFAULT_MIN_TTL_SECS`] to [`DEFAULT_MAX_TTL_SECS`]).
    pub fn ttl_bounds_secs(mut self, min: u64, max: u64) -> Self {
        self.timing.min_ttl = min.min(max);
        self.timing.max_ttl = max.max(min);
        self
    }

    /// At most one fetch per this many seconds (default
    /// [`DEFAULT_REFETCH_INTERVAL_SECS`]); a token with an unknown kid inside
    /// the interval is rejected without a fetch.
    pub fn refetch_interval_secs(mut self, secs: u64) -> Self {
        self.timing.refetch_interval = secs;
        self
    }

    /// How long past their freshness the keys in hand keep verifying while
    /// refreshing fails (default [`DEFAULT_STALE_GRACE_SECS`]). 0 turns
    /// stale-if-error off.
    pub fn stale_grace_secs(mut self, secs: u64) -> Self {
        self.timing.stale_grace = secs;
        self
    }

    /// Time allowed for one fetch (default [`DEFAULT_FETCH_TIMEOUT`]).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timing.fetch_timeout = timeout;
        self
    }

    /// Largest response accepted (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.timing.max_response_bytes = bytes;
        self
    }

    /// The kids of the keys in hand.
    pub fn kids(&self) -> Vec<String> {
        self.snapshot.load().keys.kids()
    }

    /// The key for `kid`, fetching the set when it is stale or lacks the kid
    /// (within the rate limit).
    pub async fn key(&self, kid: &str) -> Result<Arc<RsaPublicKey>, KeyLookupError> {
        // Read the attempt count before the snapshot: a fetch completing in
        // between bumps it, so this caller will not fetch again.
        let attempts_seen = self.attempts.load(Ordering::Acquire);
        let now = self.clock.now();
        {
            let snapshot = self.snapshot.load();
            let unknown_remote =
                matches!(self.source, Source::Remote { .. }) && snapshot.keys.find(kid).is_none();
            if snapshot.is_fresh(now) && !unknown_remote {
                return snapshot.keys.key(kid);
            }
        }
        self.key_slow(kid, attempts_seen, now).await
    }

    /// Fetches the set now (single flight: if another fetch finishes while
    /// this one waits, that one counts). Ignores the rate limit.
    pub async fn refresh(&self) -> Result<(), KeyLookupError> {
        if matches!(self.source, Source::Fixed) {
            return Ok(());
        }
        let attempts_seen = self.attempts.load(Ordering::Acquire);
        let mut flight = self.flight.lock().await;
        if self.attempts.load(Ordering::Acquire) == attempts_seen {
            let now = self.clock.now();
            self.fetch_into(&mut flight, now).await;
        }
        match &flight.last_error {
            Some(error) => Err(KeyLookupError::Unavailable {
                source: Arc::clone(error),
            }),
            None => Ok(()),
        }
    }

    async fn key_slow(
        &self,
        kid: &str,
        attempts_seen: u64,
        now: UnixTime,
    ) -> Result<Arc<RsaPublicKey>, KeyLookupError> {
        let snapshot = self.snapshot.load_full();
        if snapshot.is_usable(now) && snapshot.keys.find(kid).is_some() {
            // Known but stale: refresh unless someone already is (they will
            // update the set); meanwhile the stale key serves.
            if let Ok(mut flight) = self.flight.try_lock() {
                if self.attempts.load(Ordering::Acquire) == attempts_seen
                    && self.may_fetch(&flight, now)
                {
                    self.fetch_into(&mut flight, now).await;
                }
            }
        } else {
            let mut flight = self.flight.lock().await;
            if self.attempts.load(Ordering::Acquire) == attempts_seen
                && self.may_fetch(&flight, now)
            {
                self.fetch_into(&mut flight, now).await;
            }
        }
        self.lookup_after_fetch(kid).await
    }

    async fn lookup_after_fetch(&self, kid: &str) -> Result<Arc<RsaPublicKey>, KeyLookupError> {
        let now = self.clock.now();
        let snapshot = self.snapshot.load();
        if snapshot.is_usable(now) {
            return match snapshot.keys.key(kid) {
                Err(KeyLookupError::UnknownKid { .. }) => {
                    // An unknown kid while the last fetch failed may be a new key we
                    // could not load (Apple down mid-rotation): say unavailable (retry),
                    // not "unknown" (the client's fault).
                    match self.flight.lock().await.last_error.clone() {
                        Some(source) => Err(KeyLookupError::Unavailable { source }),
                        None => snapshot.keys.key(kid),
                    }
                }
                other => other,
            };
        }
        let last_error = self.flight.lock().await.last_error.clone();
        match (snapshot.loaded, last_error) {
            (false, Some(source)) => Err(KeyLookupError::Unavailable { source }),
            (_, source) => Err(KeyLookupError::Expired {
                expired_at: snapshot.usable_until.unwrap_or(now),
                source,
            }),
        }
    }

    fn may_fetch(&self, flight: &Flight, now: UnixTime) -> bool {
        matches!(self.source, Source::Remote { .. })
            && flight
                .last_attempt
                .is_none_or(|last| now >= last.plus(self.timing.refetch_interval))
    }

    /// One fetch, holding the flight lock; the new set replaces the old on
    /// success, the old stays on failure.
    async fn fetch_into(&self, flight: &mut Flight, now: UnixTime) {
        let Source::Remote { url, http } = &self.source else {
            return;
        };
        flight.last_attempt = Some(now);
        // Stays if this future is dropped mid-fetch: the next caller inside
        // the interval then learns why there are no keys.
        flight.last_error = Some(Arc::new(FetchError::Interrupted {
            url: url.to_string(),
        }));
        let result = self.fetch(url, http.as_ref()).await;
        let done = self.clock.now();
        match result {
            Ok((set, ttl)) => {
                let fresh_until = done.plus(ttl);
                self.snapshot.store(Arc::new(Snapshot {
                    keys: KeySet::from_jwks(&set),
                    loaded: true,
                    fresh_until: Some(fresh_until),
                    usable_until: Some(fresh_until.plus(self.timing.stale_grace)),
                }));
                flight.last_error = None;
            }
            Err(error) => flight.last_error = Some(Arc::new(error)),
        }
        self.attempts.fetch_add(1, Ordering::AcqRel);
    }

    async fn fetch(
        &self,
        url: &http::Uri,
        http: &dyn HttpClient,
    ) -> Result<(JwkSet, u64), FetchError> {
        let url_text = || url.to_string();
        let request = http::Request::get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| FetchError::Http {
                url: url_text(),
                source: HttpError::transport("cannot build the request", e),
            })?;
        let response = tokio::time::timeout(self.timing.fetch_timeout, http.send(request))
            .await
            .map_err(|_| FetchError::Timeout {
                url: url_text(),
                after: self.timing.fetch_timeout,
            })?
            .map_err(|source| match source {
                HttpError::Timeout { after } => FetchError::Timeout {
                    url: url_text(),
                    after,
                },
                source => FetchError::Http {
                    url: url_text(),
                    source,
                },
            })?;
        if response.status() != http::StatusCode::OK {
            return Err(FetchError::Status {
                url: url_text(),
                status: response.status().as_u16(),
            });
        }
        let len = response.body().len();
        if len > self.timing.max_response_bytes {
            return Err(FetchError::TooLarge {
                url: url_text(),
                len,
                max: self.timing.max_response_bytes,
            });
        }
        let set = JwkSet::from_json(response.body()).map_err(|source| FetchError::Jwks {
            url: url_text(),
            source,
        })?;
        let ttl = max_age(response.headers())
            .unwrap_or(self.timing.default_ttl)
            .clamp(self.timing.min_ttl, self.timing.max_ttl);
        Ok((set, ttl))
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("KeyCache");
        match &self.source {
            Source::Fixed => s.field("source", &"fixed"),
            Source::Remote { url, .. } => s.field("source", url),
        };
        s.field("kids", &self.kids())
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// `max-age` of a `Cache-Control` header: seconds, or 0 for `no-cache`/`no-store`.
fn max_age(headers: &http::HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return Some(0),
                "max-age" => {
                    if let Ok(secs) = arg.trim().trim_matches('"').parse::<u64>() {
                        found = Some(secs);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn decode_member(value: Option<&str>, member: &'static str) -> Result<Vec<u8>, KeyProblem> {
    let value = value.ok_or(KeyProblem::Missing { member })?;
    jws::decode_segment(value, jws::Segment::Payload).map_err(|_| KeyProblem::Encoding { member })
}

/// Longest kid or member value quoted back in an error.
const MAX_QUOTED: usize = 64;

fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests;
