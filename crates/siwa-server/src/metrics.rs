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
    webhooks_delivered: AtomicU64,
    webhooks_failed: AtomicU64,
    webhooks_given_up: AtomicU64,
    webhook_backlog: std::sync::atomic::AtomicI64,
    checks_authorized: AtomicU64,
    checks_revoked: AtomicU64,
    checks_failed: AtomicU64,
    reconcile_due: std::sync::atomic::AtomicI64,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// One webhook attempt at one endpoint ended: `delivered`, `failed`, or (the event) `gave_up`.
    pub(crate) fn webhook_delivery(&self, outcome: &'static str) {
        Self::inc(match outcome {
            "delivered" => &self.webhooks_delivered,
            "gave_up" => &self.webhooks_given_up,
            _ => &self.webhooks_failed,
        });
    }

    /// Events waiting for delivery.
    pub(crate) fn set_webhook_backlog(&self, pending: i64) {
        self.webhook_backlog.store(pending, Ordering::Relaxed);
    }

    /// One daily check ended: `authorized`, `revoked` or `failed`.
    pub(crate) fn reconcile_checked(&self, outcome: &'static str) {
        Self::inc(match outcome {
            "authorized" => &self.checks_authorized,
            "revoked" => &self.checks_revoked,
            _ => &self.checks_failed,
        });
    }

    /// Stored Apple tokens due for their daily check.
    pub(crate) fn set_reconcile_due(&self, due: i64) {
        self.reconcile_due.store(due, Ordering::Relaxed);
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
        let _ = writeln!(out, "# HELP siwa_webhook_deliveries_total Webhook attempts by outcome.\n# TYPE siwa_webhook_deliveries_total counter");
        for (outcome, counter) in [
            ("delivered", &self.webhooks_delivered),
            ("failed", &self.webhooks_failed),
            ("gave_up", &self.webhooks_given_up),
        ] {
            let _ = writeln!(
                out,
                "siwa_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP siwa_webhook_backlog Webhook events waiting for delivery.\n# TYPE siwa_webhook_backlog gauge\nsiwa_webhook_backlog {}", self.webhook_backlog.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP siwa_reconcile_checks_total Daily checks of Apple tokens by outcome.\n# TYPE siwa_reconcile_checks_total counter");
        for (outcome, counter) in [
            ("authorized", &self.checks_authorized),
            ("revoked", &self.checks_revoked),
            ("failed", &self.checks_failed),
        ] {
            let _ = writeln!(
                out,
                "siwa_reconcile_checks_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP siwa_reconcile_due Apple tokens due for their daily check.\n# TYPE siwa_reconcile_due gauge\nsiwa_reconcile_due {}", self.reconcile_due.load(Ordering::Relaxed));
        out
    }
}
