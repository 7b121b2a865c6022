//! [`KeyCache`]: serves keys to verifiers, from a fixed set or fetched from a
//! URL: freshness from `Cache-Control`, single-flight refetch on an unknown
//! kid, a rate limit on fetches, stale-if-error, a timeout and a size limit.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::error::{FetchError, JwksError, KeyLookupError};
use super::jwk::JwkSet;
use super::key_set::KeySet;
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::http::{HttpClient, HttpError};
use crate::jws::{KeySource, Rs256, RsaPublicKey};

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
        if let Some(found) = self.key_at_hand(kid, now) {
            return found;
        }
        // Boxed: the fetch's future is large, and every verification's
        // future would carry (and move) its room while only a fetch uses it.
        Box::pin(self.key_slow(kid, attempts_seen, now)).await
    }

    /// The answer for `kid` from the set in hand, when it is fresh and (for
    /// Apple's set) has the kid; `None` when a fetch may be due.
    fn key_at_hand(
        &self,
        kid: &str,
        now: UnixTime,
    ) -> Option<Result<Arc<RsaPublicKey>, KeyLookupError>> {
        let snapshot = self.snapshot.load();
        let unknown_remote =
            matches!(self.source, Source::Remote { .. }) && snapshot.keys.find(kid).is_none();
        (snapshot.is_fresh(now) && !unknown_remote).then(|| snapshot.keys.key(kid))
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

/// Apple's tokens are verified through [`crate::jws::verify`] with the keys
/// of a cache.
impl KeySource<Rs256> for KeyCache {
    type Key = Arc<RsaPublicKey>;
    type Error = KeyLookupError;

    fn key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<Arc<RsaPublicKey>, KeyLookupError>> + Send {
        KeyCache::key(self, kid)
    }

    fn key_now(&self, kid: &str) -> Option<Result<Arc<RsaPublicKey>, KeyLookupError>> {
        self.key_at_hand(kid, self.clock.now())
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
pub(super) fn max_age(headers: &http::HeaderMap) -> Option<u64> {
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
