//! Values read when `/metrics` is scraped:
//!
//! - `siwa_store_up`: whether the database's last reads and writes worked;
//! - `siwa_store_unavailable_total{cause}`: calls that failed because the
//!   database was unavailable, by cause (every cause, 0 included);
//! - `siwa_client_secret_expiry_seconds{client_id}`: seconds left on the
//!   client secret each client id sends Apple. The service signs its own
//!   secrets with the team key and renews them before they expire, so this
//!   stays between the renewal margin and the secrets' lifetime (an hour);
//!   0 when a due secret could not be signed;
//! - where there is one (PostgreSQL, a SQLite file), the session cache: `siwa_session_cache_lookups_total{result}`
//!   (`hit`, `miss`, `bypass` while its listener is down),
//!   `siwa_session_cache_listening` and
//!   `siwa_session_cache_listener_connects_total`.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use siwa_kit::clock::Clock;
use siwa_kit::secret::SecretCache;

use crate::store::{SessionCacheStats, StoreHealth};

/// What is read at scrape time.
#[derive(Debug)]
pub(crate) struct Scraped {
    store: Arc<StoreHealth>,
    secrets: Vec<Arc<SecretCache>>,
    clock: Arc<dyn Clock>,
    session_cache: Option<Arc<SessionCacheStats>>,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct Cause {
    cause: &'static str,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct Lookup {
    result: &'static str,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct Client {
    client_id: String,
}

impl Scraped {
    /// The store's health, and the secret caches of the service's Apple
    /// clients (one per client id) with the clock they sign by.
    pub(crate) fn new(
        store: Arc<StoreHealth>,
        secrets: Vec<Arc<SecretCache>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            secrets,
            clock,
            session_cache: None,
        }
    }

    /// With the counters of the store's session cache, if it keeps one.
    pub(crate) fn session_cache(mut self, stats: Option<Arc<SessionCacheStats>>) -> Self {
        self.session_cache = stats;
        self
    }

    fn encode_session_cache(
        stats: &SessionCacheStats,
        encoder: &mut DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "siwa_session_cache_lookups",
            "Sessions looked up in the process's cache, by result (hit, miss, bypass: the cache was not following the database's changes).",
            None,
            MetricType::Counter,
        )?;
        for (result, count) in [
            ("hit", stats.hits()),
            ("miss", stats.misses()),
            ("bypass", stats.bypasses()),
        ] {
            ConstCounter::new(count).encode(family.encode_family(&Lookup { result })?)?;
        }
        let listening = ConstGauge::new(i64::from(stats.listening()));
        listening.encode(encoder.encode_descriptor(
            "siwa_session_cache_listening",
            "Whether the session cache follows the database's changes (0: every session is read from the database).",
            None,
            listening.metric_type(),
        )?)?;
        let connects = ConstCounter::new(stats.connects());
        connects.encode(encoder.encode_descriptor(
            "siwa_session_cache_listener_connects",
            "Times the session cache started following the database's changes (each after a flush).",
            None,
            connects.metric_type(),
        )?)
    }

    /// Seconds left on the secret `cache` hands out now. Renewing one that is
    /// due is what the next call to Apple would do; doing it here keeps an
    /// idle service from showing a secret nobody will send.
    fn secret_left(&self, cache: &SecretCache) -> i64 {
        match cache.current() {
            Ok(secret) => {
                let left = secret
                    .expires_at()
                    .secs()
                    .saturating_sub(self.clock.now().secs());
                i64::try_from(left).unwrap_or(i64::MAX)
            }
            Err(e) => {
                tracing::error!(client_id = %cache.client_id(), error = %e, hint = e.hint(), "cannot sign a client secret");
                0
            }
        }
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let up = ConstGauge::new(i64::from(!self.store.is_down()));
        up.encode(encoder.encode_descriptor(
            "siwa_store_up",
            "Whether the database's last reads and writes worked (0 during an outage).",
            None,
            up.metric_type(),
        )?)?;

        let mut family = encoder.encode_descriptor(
            "siwa_store_unavailable",
            "Database calls that failed because the database was unavailable, by cause.",
            None,
            MetricType::Counter,
        )?;
        for (outage, count) in self.store.failures() {
            let labels = Cause {
                cause: outage.label(),
            };
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }

        let mut family = encoder.encode_descriptor(
            "siwa_client_secret_expiry",
            "Seconds left on the client secret sent to Apple, by client id.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for cache in &self.secrets {
            let labels = Client {
                client_id: cache.client_id().as_str().to_owned(),
            };
            ConstGauge::new(self.secret_left(cache)).encode(family.encode_family(&labels)?)?;
        }
        if let Some(stats) = &self.session_cache {
            Self::encode_session_cache(stats, &mut encoder)?;
        }
        Ok(())
    }
}
