//! The one source of time for every time-dependent check.
//!
//! Checks take a [`UnixTime`] instead of reading the system clock, so tests and
//! `siwa ... --now` can pin it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit of every JWT time claim.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct UnixTime(u64);

impl UnixTime {
    /// A time `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// This time plus `secs`, saturating.
    pub const fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// This time minus `secs`, saturating at the epoch.
    pub const fn minus(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }

    /// RFC 3339 / ISO 8601 in UTC, e.g. `2026-11-21T23:22:43Z`.
    pub fn iso8601(self) -> String {
        let secs = i64::try_from(self.0).unwrap_or(i64::MAX);
        time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("@{secs}"))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.iso8601())
    }
}

/// A source of the current time.
pub trait Clock: fmt::Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    fn now(&self) -> UnixTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixTime(since.as_secs())
    }
}

/// A clock pinned to one instant (tests, `--now`).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub UnixTime);

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}

/// A clock that tests move by hand; shared through an `Arc`.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: UnixTime) -> Self {
        Self(AtomicU64::new(now.secs()))
    }

    /// Sets the time.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now.secs(), Ordering::SeqCst);
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_iso8601() {
        assert_eq!(UnixTime::from_secs(0).iso8601(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UnixTime::from_secs(1_587_204_602).iso8601(),
            "2020-04-18T10:10:02Z"
        );
    }

    #[test]
    fn fixed_clock_is_fixed() {
        let c = FixedClock(UnixTime::from_secs(42));
        assert_eq!(c.now().secs(), 42);
        assert!(SystemClock.now().secs() > 1_700_000_000);
    }

    #[test]
    fn manual_clock_moves() {
        let c = ManualClock::new(UnixTime::from_secs(10));
        c.advance(5);
        assert_eq!(c.now().secs(), 15);
        c.set(UnixTime::from_secs(3));
        assert_eq!(c.now().secs(), 3);
    }
}
