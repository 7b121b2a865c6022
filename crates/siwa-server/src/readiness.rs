//! This replica's readiness verdict, remembered for a moment, so that load
//! balancers polling `/readyz` cost one tiny write a second at most.
//!
//! - `readiness.rs`: [`Readiness`], the verdict of plain `/readyz`;
//! - `readiness/deep.rs`: [`DeepReadiness`], the checks of `/readyz?deep=1`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

mod deep;

pub(crate) use deep::{DeepReadiness, DeepReport};

/// How long a readiness verdict is reused.
const READY_FOR: Duration = Duration::from_secs(1);
/// The longest the readiness probe may take: a load balancer gets its answer within a second.
pub(crate) const PROBE_BOUND: Duration = Duration::from_millis(800);

/// This replica's readiness: a bounded write probe of the database, reused
/// for [`READY_FOR`], so that load balancers polling it cost one tiny write a
/// second at most.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    last: Mutex<Option<(Instant, bool)>>,
}

impl Readiness {
    pub(crate) fn cached(&self, now: Instant) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.filter(|(at, _)| now.saturating_duration_since(*at) < READY_FOR)
            .map(|(_, ready)| ready)
    }

    pub(crate) fn remember(&self, now: Instant, ready: bool) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((now, ready));
    }
}
