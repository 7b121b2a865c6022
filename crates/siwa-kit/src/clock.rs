//! The one source of time for every time-dependent check.
//!
//! Checks take a [`UnixTime`] instead of reading the system clock, so tests and
//! `siwa ... --now` can pin it.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(target_os = "linux"))]
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The system's wall clock, in whole seconds.
///
/// On Linux it reads the coarse wall clock (`CLOCK_REALTIME_COARSE`): the
/// time of the kernel's last tick, at most a few milliseconds old, read from
/// the vDSO without the timestamp counter. Every verification reads the
/// clock, and whole seconds are all a claim can say, so the fine clock's
/// extra cost buys nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime(wall_clock_secs())
    }
}

#[cfg(target_os = "linux")]
fn wall_clock_secs() -> u64 {
    use rustix::time::{clock_gettime, ClockId};
    u64::try_from(clock_gettime(ClockId::RealtimeCoarse).tv_sec).unwrap_or(0)
}

#[cfg(not(target_os = "linux"))]
#[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
fn wall_clock_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
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
    #[allow(clippy::disallowed_methods)] // compared with the fine wall clock
    fn system_clock_reads_the_wall_clock() {
        // The coarse clock lags the fine one by at most a tick (milliseconds),
        // so at a second's edge it may still read the second before.
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let now = SystemClock.now().secs();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        assert!(
            before.saturating_sub(1) <= now && now <= after,
            "{before} {now} {after}"
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
