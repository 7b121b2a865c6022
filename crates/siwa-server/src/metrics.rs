//! Counters for `/metrics`, in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreHealth;

/// What the service counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) web_sign_ins: AtomicU64,
    pub(crate) native_sign_ins: AtomicU64,
    pub(crate) sign_in_failures: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) refresh_reuse_detected: AtomicU64,
    pub(crate) notifications: AtomicU64,
    pub(crate) deletions_completed: AtomicU64,
    pub(crate) deletions_queued: AtomicU64,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition, with the gauge of deletions waiting and the store's health.
    pub(crate) fn render(&self, pending_deletions: i64, store: &StoreHealth) -> String {
        let mut out = String::new();
        let counters = [
            (
                "siwa_sign_ins_total{flow=\"web\"}",
                &self.web_sign_ins,
                "Successful sign-ins.",
            ),
            (
                "siwa_sign_ins_total{flow=\"native\"}",
                &self.native_sign_ins,
                "",
            ),
            (
                "siwa_sign_in_failures_total",
                &self.sign_in_failures,
                "Sign-ins refused or failed.",
            ),
            (
                "siwa_session_refreshes_total",
                &self.refreshes,
                "Refresh tokens rotated.",
            ),
            (
                "siwa_refresh_reuse_detected_total",
                &self.refresh_reuse_detected,
                "Spent refresh tokens presented again.",
            ),
            (
                "siwa_notifications_total",
                &self.notifications,
                "Apple notifications accepted.",
            ),
            (
                "siwa_deletions_completed_total",
                &self.deletions_completed,
                "Accounts erased.",
            ),
            (
                "siwa_deletions_queued_total",
                &self.deletions_queued,
                "Deletions queued because Apple could not be reached.",
            ),
        ];
        for (name, counter, help) in counters {
            let base = name.split('{').next().unwrap_or(name);
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {base} {help}\n# TYPE {base} counter");
            }
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP siwa_deletions_pending Deletions waiting for Apple.\n# TYPE siwa_deletions_pending gauge\nsiwa_deletions_pending {pending_deletions}"
        );
        let _ = writeln!(
            out,
            "# HELP siwa_store_up Whether the database's last reads and writes worked (0 during an outage).\n# TYPE siwa_store_up gauge\nsiwa_store_up {}",
            u8::from(!store.is_down())
        );
        let _ = writeln!(
            out,
            "# HELP siwa_store_unavailable_total Database calls that failed because the database was unavailable, by cause.\n# TYPE siwa_store_unavailable_total counter"
        );
        for (outage, count) in store.failures() {
            let _ = writeln!(
                out,
                "siwa_store_unavailable_total{{cause=\"{}\"}} {count}",
                outage.label()
            );
        }
        out
    }
}
