//! What `/metrics` shows, through the official Prometheus client
//! (`prometheus-client`): one registry, encoded at each scrape as OpenMetrics
//! text or as Prometheus text 0.0.4, whichever the scraper asks for.
//!
//! - this file: [`Metrics`], the service's counters and gauges and the scrape;
//! - `http.rs`: the latency of every request, by route template, method and
//!   status (a middleware of every route);
//! - `apple.rs`: every call to Apple, counted and timed by an [`HttpClient`]
//!   decorator, and the age of Apple's key set;
//! - `scrape.rs`: values read when scraped (the store's health, the client
//!   secrets' remaining life).
//!
//! Counters are registered without their `_total` suffix: the encoder adds it,
//! so the exposed names are the documented ones (`siwa_sign_ins_total`).
//!
//! [`HttpClient`]: siwa_kit::http::HttpClient

mod apple;
mod http;
mod scrape;
#[cfg(test)]
mod tests;

use prometheus_client::encoding::{prometheus_text, text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub(crate) use self::apple::{AppleMetrics, ObservedHttp};
pub(crate) use self::http::{observe as observe_requests, HttpMetrics};
pub(crate) use self::scrape::Scraped;

/// What the service counts.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) web_sign_ins: Counter,
    pub(crate) native_sign_ins: Counter,
    pub(crate) sign_in_failures: Counter,
    pub(crate) refreshes: Counter,
    pub(crate) refresh_reuse_detected: Counter,
    pub(crate) notifications: Counter,
    pub(crate) deletions_completed: Counter,
    pub(crate) deletions_queued: Counter,
    deletions_pending: Gauge,
    webhook_deliveries: Family<Outcome, Counter>,
    webhook_backlog: Gauge,
    reconcile_checks: Family<Outcome, Counter>,
    reconcile_due: Gauge,
    http: HttpMetrics,
}

/// The exposition a scraper gets.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Format {
    /// OpenMetrics 1.0 text (counter families named without `_total`, `# EOF`).
    OpenMetrics,
    /// Prometheus text 0.0.4 (the default: any text-format parser reads it).
    Prometheus,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it (Prometheus's own scraper
    /// does), otherwise the classic text format.
    pub(crate) fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains(OPENMETRICS) => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    /// The response's `Content-Type`.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => prometheus_text::CONTENT_TYPE,
        }
    }
}

/// A label set of one `outcome` label.
#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) outcome: &'static str,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct Flow {
    flow: &'static str,
}

impl Metrics {
    /// Every metric registered; `apple` is the one the [`ObservedHttp`] of the
    /// service's Apple clients records into, `scraped` what is read at scrape time.
    pub(crate) fn new(apple: &AppleMetrics, scraped: Scraped) -> Self {
        let mut registry = Registry::default();
        let sign_ins = Family::<Flow, Counter>::default();
        let web_sign_ins = sign_ins.get_or_create_owned(&Flow { flow: "web" });
        let native_sign_ins = sign_ins.get_or_create_owned(&Flow { flow: "native" });
        registry.register("siwa_sign_ins", "Successful sign-ins, by flow", sign_ins);
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let sign_in_failures = counter(
            &mut registry,
            "siwa_sign_in_failures",
            "Sign-ins refused or failed",
        );
        let refreshes = counter(
            &mut registry,
            "siwa_session_refreshes",
            "Refresh tokens rotated",
        );
        let refresh_reuse_detected = counter(
            &mut registry,
            "siwa_refresh_reuse_detected",
            "Spent refresh tokens presented again",
        );
        let notifications = counter(
            &mut registry,
            "siwa_notifications",
            "Apple notifications accepted",
        );
        let deletions_completed =
            counter(&mut registry, "siwa_deletions_completed", "Accounts erased");
        let deletions_queued = counter(
            &mut registry,
            "siwa_deletions_queued",
            "Deletions queued because Apple could not be reached",
        );
        let deletions_pending = Gauge::default();
        registry.register(
            "siwa_deletions_pending",
            "Deletions waiting for Apple (-1: the database could not be asked)",
            deletions_pending.clone(),
        );
        let webhook_deliveries = outcomes(&WEBHOOK_OUTCOMES);
        registry.register(
            "siwa_webhook_deliveries",
            "Webhook deliveries, by outcome (delivered, failed and retried later, gave_up)",
            webhook_deliveries.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "siwa_webhook_backlog",
            "Webhook events waiting for delivery",
            webhook_backlog.clone(),
        );
        let reconcile_checks = outcomes(&RECONCILE_OUTCOMES);
        registry.register(
            "siwa_reconcile_checks",
            "Stored Apple tokens checked with Apple, by outcome (authorized, revoked, failed)",
            reconcile_checks.clone(),
        );
        let reconcile_due = Gauge::default();
        registry.register(
            "siwa_reconcile_due",
            "Stored Apple tokens due for their daily check",
            reconcile_due.clone(),
        );
        let http = HttpMetrics::default();
        http.register(&mut registry);
        apple.register(&mut registry);
        registry.register_collector(Box::new(scraped));
        Self {
            registry,
            web_sign_ins,
            native_sign_ins,
            sign_in_failures,
            refreshes,
            refresh_reuse_detected,
            notifications,
            deletions_completed,
            deletions_queued,
            deletions_pending,
            webhook_deliveries,
            webhook_backlog,
            reconcile_checks,
            reconcile_due,
            http,
        }
    }

    /// Counts one.
    pub(crate) fn inc(counter: &Counter) {
        counter.inc();
    }

    /// The request latencies, for the middleware of [`observe_requests`].
    pub(crate) fn http(&self) -> HttpMetrics {
        self.http.clone()
    }

    /// One webhook delivery attempt ended: `delivered`, `failed` (to be
    /// retried) or `gave_up`.
    pub(crate) fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// Webhook events waiting for delivery.
    pub(crate) fn set_webhook_backlog(&self, pending: i64) {
        self.webhook_backlog.set(pending);
    }

    /// One stored Apple token checked: `authorized`, `revoked` or `failed`.
    pub(crate) fn reconcile_checked(&self, outcome: &'static str) {
        self.reconcile_checks
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// Stored Apple tokens due for their daily check.
    pub(crate) fn set_reconcile_due(&self, due: i64) {
        self.reconcile_due.set(due);
    }

    /// The exposition in `format`, with the deletions waiting (asked of the
    /// store by the caller) and the values read at scrape time.
    pub(crate) fn render(&self, pending_deletions: i64, format: Format) -> String {
        self.deletions_pending.set(pending_deletions);
        let mut out = String::new();
        let encoded = match format {
            Format::OpenMetrics => text::encode(&mut out, &self.registry),
            Format::Prometheus => prometheus_text::encode(&mut out, &self.registry),
        };
        if encoded.is_err() {
            // Writing to a String cannot fail; a collector could, and then
            // the scrape shows what was written before it.
            tracing::error!("a metric could not be encoded");
        }
        out
    }
}

/// A family with a series for each outcome, so each shows 0 before its first count.
fn outcomes(all: &[&'static str]) -> Family<Outcome, Counter> {
    let family = Family::<Outcome, Counter>::default();
    for &outcome in all {
        let _ = family.get_or_create(&Outcome { outcome });
    }
    family
}

const OPENMETRICS: &str = "application/openmetrics-text";
const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "failed", "gave_up"];
const RECONCILE_OUTCOMES: [&str; 3] = ["authorized", "revoked", "failed"];
