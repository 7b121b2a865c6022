//! The exposition as a scraper reads it.

use std::sync::Arc;

use siwa_kit::clock::{ManualClock, UnixTime};

use super::*;
use crate::store::StoreHealth;

fn metrics() -> Metrics {
    let scraped = Scraped::new(
        Arc::new(StoreHealth::new("test.db")),
        Vec::new(),
        Arc::new(ManualClock::new(UnixTime::from_secs(1_700_000_000))),
    );
    Metrics::new(&AppleMetrics::default(), scraped)
}

#[test]
fn the_names_of_the_hand_written_exposition_stay() {
    let metrics = metrics();
    Metrics::inc(&metrics.web_sign_ins);
    Metrics::inc(&metrics.web_sign_ins);
    Metrics::inc(&metrics.refreshes);
    let text = metrics.render(3, Format::Prometheus);
    for line in [
        "# TYPE siwa_sign_ins_total counter",
        "siwa_sign_ins_total{flow=\"web\"} 2",
        "siwa_sign_ins_total{flow=\"native\"} 0",
        "siwa_sign_in_failures_total 0",
        "siwa_session_refreshes_total 1",
        "siwa_refresh_reuse_detected_total 0",
        "siwa_notifications_total 0",
        "siwa_deletions_completed_total 0",
        "siwa_deletions_queued_total 0",
        "# TYPE siwa_deletions_pending gauge",
        "siwa_deletions_pending 3",
        "siwa_store_up 1",
        "siwa_store_unavailable_total{cause=\"disk_full\"} 0",
        "# TYPE siwa_client_secret_expiry_seconds gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
    assert!(!text.contains("_total_total"), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
    let metrics = metrics();
    Metrics::inc(&metrics.native_sign_ins);
    let text = metrics.render(0, Format::OpenMetrics);
    assert!(text.contains("# TYPE siwa_sign_ins counter\n"), "{text}");
    assert!(
        text.contains("siwa_sign_ins_total{flow=\"native\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE siwa_http_request_duration_seconds histogram\n")
            || !text.contains("siwa_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn the_format_follows_accept() {
    assert_eq!(Format::negotiate(None), Format::Prometheus);
    assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
    // What Prometheus 2.x and 3.x send.
    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    assert!(Format::Prometheus
        .content_type()
        .starts_with("text/plain; version=0.0.4"));
    assert!(Format::OpenMetrics
        .content_type()
        .starts_with("application/openmetrics-text; version=1.0.0"));
}

#[test]
fn webhook_and_reconciliation_series_exist_from_the_start_and_count() {
    let metrics = metrics();
    let text = metrics.render(0, Format::Prometheus);
    for outcome in ["delivered", "failed", "gave_up"] {
        let line = format!("siwa_webhook_deliveries_total{{outcome=\"{outcome}\"}} 0");
        assert!(text.contains(&line), "{line}:\n{text}");
    }
    for outcome in ["authorized", "revoked", "failed"] {
        let line = format!("siwa_reconcile_checks_total{{outcome=\"{outcome}\"}} 0");
        assert!(text.contains(&line), "{line}:\n{text}");
    }
    metrics.webhook_delivery("delivered");
    metrics.webhook_delivery("delivered");
    metrics.webhook_delivery("gave_up");
    metrics.set_webhook_backlog(7);
    metrics.reconcile_checked("revoked");
    metrics.set_reconcile_due(42);
    let text = metrics.render(0, Format::Prometheus);
    for line in [
        "siwa_webhook_deliveries_total{outcome=\"delivered\"} 2",
        "siwa_webhook_deliveries_total{outcome=\"gave_up\"} 1",
        "siwa_webhook_deliveries_total{outcome=\"failed\"} 0",
        "siwa_webhook_backlog 7",
        "siwa_reconcile_checks_total{outcome=\"revoked\"} 1",
        "siwa_reconcile_due 42",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
}

#[test]
fn the_session_cache_shows_only_where_there_is_one() {
    let text = metrics().render(0, Format::Prometheus);
    assert!(!text.contains("siwa_session_cache"), "{text}");
    let scraped = Scraped::new(
        Arc::new(StoreHealth::new("postgres://db/siwa")),
        Vec::new(),
        Arc::new(ManualClock::new(UnixTime::from_secs(1_700_000_000))),
    )
    .session_cache(Some(Arc::default()));
    let text = Metrics::new(&AppleMetrics::default(), scraped).render(0, Format::Prometheus);
    for line in [
        "# TYPE siwa_session_cache_lookups_total counter",
        "siwa_session_cache_lookups_total{result=\"hit\"} 0",
        "siwa_session_cache_lookups_total{result=\"miss\"} 0",
        "siwa_session_cache_lookups_total{result=\"bypass\"} 0",
        "siwa_session_cache_listening 0",
        "siwa_session_cache_listener_connects_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
    }
}
