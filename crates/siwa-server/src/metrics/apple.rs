//! Every call to Apple, seen from the HTTP client the service gives siwa-kit:
//! [`ObservedHttp`] wraps it, so the kit's clients and key cache are counted
//! without knowing it.
//!
//! - `siwa_apple_requests_total{endpoint,outcome}`: `endpoint` is `token`,
//!   `revoke`, `keys`, `usermigrationinfo` or `other` (from the configured
//!   endpoints' paths); `outcome` is `ok` (2xx), Apple's OAuth error code
//!   (`invalid_grant`, `invalid_client`, ...; a code this list does not know
//!   is `other_error`), `http_<status>` for any other answer, `timeout`,
//!   `too_large` (a body over the cap), `network` (no answer), or `abandoned`
//!   (the caller stopped waiting: its own timeout, or the request it served
//!   went away);
//! - `siwa_apple_request_duration_seconds{endpoint}`;
//! - `siwa_apple_jwks_fetches_total{outcome}`: fetches of Apple's key set, as
//!   above, with `invalid_key_set` for a 200 whose body is not a key set;
//! - `siwa_apple_jwks_age_seconds`: seconds since the last fetch that brought
//!   a key set, read at scrape time; absent until there has been one.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde_json::Value;
use siwa_kit::client::Endpoints;
use siwa_kit::http::{HttpClient, HttpError, HttpFuture};
use siwa_kit::jwks::JwkSet;

/// What the calls to Apple recorded (cheap to clone: the series are shared).
#[derive(Clone, Debug)]
pub(crate) struct AppleMetrics {
    requests: Family<CallLabels, Counter>,
    durations: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    jwks_fetches: Family<OutcomeLabel, Counter>,
    jwks_age: JwksAge,
}

/// When a key set last came from Apple.
#[derive(Clone, Debug, Default)]
struct JwksAge(Arc<Mutex<Option<Instant>>>);

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct CallLabels {
    endpoint: &'static str,
    outcome: Cow<'static, str>,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct EndpointLabel {
    endpoint: &'static str,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct OutcomeLabel {
    outcome: Cow<'static, str>,
}

impl Default for AppleMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
            jwks_fetches: Family::default(),
            jwks_age: JwksAge::default(),
        }
    }
}

impl AppleMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "siwa_apple_requests",
            "Calls to Apple, by endpoint and outcome (ok, Apple's error code, http_<status>, timeout, too_large, network, abandoned)",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "siwa_apple_request_duration",
            "Time Apple took to answer, by endpoint",
            Unit::Seconds,
            self.durations.clone(),
        );
        registry.register(
            "siwa_apple_jwks_fetches",
            "Fetches of Apple's key set, by outcome (ok, invalid_key_set, http_<status>, timeout, too_large, network, abandoned)",
            self.jwks_fetches.clone(),
        );
        registry.register_collector(Box::new(self.jwks_age.clone()));
    }

    fn record(&self, endpoint: &'static str, outcome: Cow<'static, str>, seconds: f64) {
        self.durations
            .get_or_create(&EndpointLabel { endpoint })
            .observe(seconds);
        if endpoint == KEYS {
            self.jwks_fetches
                .get_or_create(&OutcomeLabel {
                    outcome: outcome.clone(),
                })
                .inc();
            if outcome == OK {
                self.jwks_age.fetched(Instant::now());
            }
        }
        // For the request count, a 200 is an answer whatever its body.
        let outcome = if outcome == INVALID_KEY_SET {
            Cow::Borrowed(OK)
        } else {
            outcome
        };
        self.requests
            .get_or_create(&CallLabels { endpoint, outcome })
            .inc();
    }
}

impl JwksAge {
    fn fetched(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
    }

    fn seconds(&self) -> Option<f64> {
        let at = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        at.map(|at| at.elapsed().as_secs_f64())
    }
}

impl Collector for JwksAge {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // No key set fetched yet: no number rather than a made-up one.
        let Some(age) = self.seconds() else {
            return Ok(());
        };
        let gauge = ConstGauge::new(age);
        let metric = encoder.encode_descriptor(
            "siwa_apple_jwks_age",
            "Seconds since a key set last came from Apple (absent until the first).",
            Some(&Unit::Seconds),
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// The service's [`HttpClient`] for Apple, counting and timing each call.
#[derive(Debug)]
pub(crate) struct ObservedHttp {
    inner: Arc<dyn HttpClient>,
    /// Each endpoint's path and its label.
    paths: Vec<(String, &'static str)>,
    metrics: AppleMetrics,
}

impl ObservedHttp {
    /// `inner` observed; calls are told apart by the paths of `endpoints`.
    pub(crate) fn new(
        inner: Arc<dyn HttpClient>,
        endpoints: &Endpoints,
        metrics: AppleMetrics,
    ) -> Self {
        let paths = [
            (endpoints.token_uri(), "token"),
            (endpoints.revoke_uri(), "revoke"),
            (endpoints.keys_uri(), KEYS),
            (endpoints.migration_info_uri(), "usermigrationinfo"),
        ]
        .into_iter()
        .map(|(uri, name)| (uri.path().to_owned(), name))
        .collect();
        Self {
            inner,
            paths,
            metrics,
        }
    }

    fn endpoint(&self, uri: &http::Uri) -> &'static str {
        self.paths
            .iter()
            .find(|(path, _)| path == uri.path())
            .map_or("other", |(_, name)| name)
    }
}

impl HttpClient for ObservedHttp {
    fn send(&self, request: http::Request<Vec<u8>>) -> HttpFuture<'_> {
        let endpoint = self.endpoint(request.uri());
        Box::pin(async move {
            let mut call = InFlight {
                metrics: &self.metrics,
                endpoint,
                started: Instant::now(),
                outcome: None,
            };
            let result = self.inner.send(request).await;
            call.outcome = Some(outcome(endpoint, &result));
            result
        })
    }
}

/// A call under way; recorded when it ends, or as `abandoned` when its
/// future is dropped first.
struct InFlight<'a> {
    metrics: &'a AppleMetrics,
    endpoint: &'static str,
    started: Instant,
    outcome: Option<Cow<'static, str>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or(Cow::Borrowed("abandoned"));
        self.metrics
            .record(self.endpoint, outcome, self.started.elapsed().as_secs_f64());
    }
}

/// The outcome label of one call: a bounded set.
fn outcome(
    endpoint: &str,
    result: &Result<http::Response<Vec<u8>>, HttpError>,
) -> Cow<'static, str> {
    let response = match result {
        Ok(response) => response,
        Err(HttpError::Timeout { .. }) => return Cow::Borrowed("timeout"),
        Err(HttpError::BodyTooLarge { .. }) => return Cow::Borrowed("too_large"),
        Err(_) => return Cow::Borrowed("network"),
    };
    let status = response.status();
    if status.is_success() {
        if endpoint == KEYS && JwkSet::from_json(response.body()).is_err() {
            return Cow::Borrowed(INVALID_KEY_SET);
        }
        return Cow::Borrowed(OK);
    }
    if status.is_client_error() {
        if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(response.body()) {
            if let Some(Value::String(code)) = body.get("error") {
                let known = APPLE_ERRORS
                    .into_iter()
                    .find(|known| *known == code.as_str());
                return Cow::Borrowed(known.unwrap_or("other_error"));
            }
        }
    }
    Cow::Owned(format!("http_{}", status.as_u16()))
}

const OK: &str = "ok";
const KEYS: &str = "keys";
const INVALID_KEY_SET: &str = "invalid_key_set";
/// Apple's OAuth error codes (TN3107), each its own label value.
const APPLE_ERRORS: [&str; 6] = [
    "invalid_client",
    "invalid_grant",
    "invalid_request",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_grant_type",
];
/// From 25 ms to the longest a request may take (30 s).
const BUCKETS: [f64; 10] = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::prometheus_text::encode;

    use super::*;

    /// Answers every request with `answer()`, after `delay`.
    #[derive(Debug)]
    struct Canned {
        answer: fn() -> Result<http::Response<Vec<u8>>, HttpError>,
        delay: std::time::Duration,
    }

    impl HttpClient for Canned {
        fn send(&self, _request: http::Request<Vec<u8>>) -> HttpFuture<'_> {
            Box::pin(async move {
                tokio::time::sleep(self.delay).await;
                (self.answer)()
            })
        }
    }

    fn response(status: u16, body: &str) -> Result<http::Response<Vec<u8>>, HttpError> {
        Ok(http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap())
    }

    fn observed(
        answer: fn() -> Result<http::Response<Vec<u8>>, HttpError>,
    ) -> (ObservedHttp, AppleMetrics) {
        let metrics = AppleMetrics::default();
        let endpoints =
            Endpoints::new("http://127.0.0.1:9", siwa_kit::client::Api::default()).unwrap();
        let inner = Arc::new(Canned {
            answer,
            delay: std::time::Duration::ZERO,
        });
        (
            ObservedHttp::new(inner, &endpoints, metrics.clone()),
            metrics,
        )
    }

    fn exposition(metrics: &AppleMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    async fn call(http: &ObservedHttp, path: &str) {
        let request = http::Request::post(format!("http://127.0.0.1:9{path}"))
            .body(Vec::new())
            .unwrap();
        let _ = http.send(request).await;
    }

    #[tokio::test]
    async fn apple_error_codes_are_labels_and_unknown_ones_are_other_error() {
        let (http, metrics) = observed(|| response(400, r#"{"error":"invalid_grant"}"#));
        call(&http, "/auth/token").await;
        call(&http, "/auth/token").await;
        let (strange, _) = observed(|| response(400, r#"{"error":"made_up_by_someone_0042"}"#));
        let strange = ObservedHttp {
            metrics: metrics.clone(),
            ..strange
        };
        call(&strange, "/auth/revoke").await;
        let text = exposition(&metrics);
        assert!(
            text.contains(
                "siwa_apple_requests_total{endpoint=\"token\",outcome=\"invalid_grant\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "siwa_apple_requests_total{endpoint=\"revoke\",outcome=\"other_error\"} 1"
            ),
            "{text}"
        );
        assert!(!text.contains("made_up"), "{text}");
        assert!(
            text.contains("siwa_apple_request_duration_seconds_count{endpoint=\"token\"} 2"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn statuses_failures_and_unknown_paths_are_bounded_labels() {
        let (http, metrics) = observed(|| response(503, "<html>down</html>"));
        call(&http, "/auth/usermigrationinfo").await;
        call(&http, "/some/where/else?x=1").await;
        let (failing, _) = observed(|| {
            Err(HttpError::Timeout {
                after: std::time::Duration::from_secs(1),
            })
        });
        let failing = ObservedHttp {
            metrics: metrics.clone(),
            ..failing
        };
        call(&failing, "/auth/token").await;
        let text = exposition(&metrics);
        for line in [
            "siwa_apple_requests_total{endpoint=\"usermigrationinfo\",outcome=\"http_503\"} 1",
            "siwa_apple_requests_total{endpoint=\"other\",outcome=\"http_503\"} 1",
            "siwa_apple_requests_total{endpoint=\"token\",outcome=\"timeout\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
        assert!(!text.contains("some/where"), "{text}");
    }

    #[tokio::test]
    async fn the_key_set_age_appears_with_the_first_key_set() {
        let (http, metrics) = observed(|| response(200, "not a key set"));
        call(&http, "/auth/keys").await;
        let text = exposition(&metrics);
        assert!(
            text.contains("siwa_apple_jwks_fetches_total{outcome=\"invalid_key_set\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("siwa_apple_requests_total{endpoint=\"keys\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            !text.contains("siwa_apple_jwks_age_seconds"),
            "no key set yet: {text}"
        );

        let (good, _) = observed(|| response(200, r#"{"keys":[]}"#));
        let good = ObservedHttp {
            metrics: metrics.clone(),
            ..good
        };
        call(&good, "/auth/keys").await;
        let text = exposition(&metrics);
        assert!(
            text.contains("siwa_apple_jwks_fetches_total{outcome=\"ok\"} 1"),
            "{text}"
        );
        let age = text
            .lines()
            .find_map(|l| l.strip_prefix("siwa_apple_jwks_age_seconds "))
            .unwrap_or_else(|| panic!("{text}"));
        let age: f64 = age.parse().unwrap();
        assert!((0.0..5.0).contains(&age), "{age}");
    }

    #[tokio::test]
    async fn a_call_whose_caller_gives_up_is_abandoned() {
        let metrics = AppleMetrics::default();
        let endpoints =
            Endpoints::new("http://127.0.0.1:9", siwa_kit::client::Api::default()).unwrap();
        let slow = Arc::new(Canned {
            answer: || response(200, "{}"),
            delay: std::time::Duration::from_secs(60),
        });
        let http = ObservedHttp::new(slow, &endpoints, metrics.clone());
        let request = http::Request::post("http://127.0.0.1:9/auth/token")
            .body(Vec::new())
            .unwrap();
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(10), http.send(request)).await;
        assert!(gave_up.is_err());
        let text = exposition(&metrics);
        assert!(
            text.contains("siwa_apple_requests_total{endpoint=\"token\",outcome=\"abandoned\"} 1"),
            "{text}"
        );
    }
}
