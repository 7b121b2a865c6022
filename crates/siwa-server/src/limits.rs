//! Token buckets for rate limits: one per client and one for everyone.
//!
//! Each client gets `burst` requests at once and `per_ip_per_minute` after
//! that; all clients together get `global_per_second`. A limit of 0 turns it
//! off. A client is an IPv4 address or an IPv6 /64 (one host usually owns a
//! whole /64, so its addresses are one client). The client's own bucket is
//! checked first: a client over its own limit spends no global token, so it
//! cannot lock everyone else out. The per-client table keeps the most recently
//! seen [`MAX_TRACKED_CLIENTS`] clients (least recently seen forgotten first,
//! in constant time: forgetting one only gives it a full bucket again).

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use hashlink::LruCache;

/// Clients whose buckets are remembered.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The limits of one group of routes, from the settings.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RateLimits {
    /// Sustained requests per minute per client (0: no per-client limit).
    pub per_ip_per_minute: u32,
    /// Requests a client may make at once.
    pub burst: u32,
    /// Requests per second from everyone together (0: no global limit).
    pub global_per_second: u32,
}

/// A client as the limits count it: an IPv4 address, or an IPv6 /64.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Self {
        Self {
            tokens: capacity,
            updated: now,
        }
    }

    /// Takes one token; `Err(seconds)` until one is available.
    fn take(&mut self, now: Instant, rate_per_sec: f64, capacity: f64) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate_per_sec).min(capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate_per_sec;
            // At most a day: a wait beyond is a misconfiguration, not a plan.
            Err(wait.ceil().clamp(1.0, 86_400.0) as u64)
        }
    }
}

/// The buckets of one group of routes in one service process.
pub(crate) struct Limiter {
    limits: RateLimits,
    per_client: Mutex<LruCache<ClientKey, Bucket>>,
    global: Mutex<Bucket>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self::with_capacity(limits, MAX_TRACKED_CLIENTS)
    }

    fn with_capacity(limits: RateLimits, clients: usize) -> Self {
        Self {
            limits,
            per_client: Mutex::new(LruCache::new(clients.max(1))),
            global: Mutex::new(Bucket::full(
                f64::from(limits.global_per_second),
                Instant::now(),
            )),
        }
    }

    /// `Err(retry_after_secs)` when `ip` (or everyone) is over the limit.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let limits = self.limits;
        if limits.per_ip_per_minute > 0 {
            let rate = f64::from(limits.per_ip_per_minute) / 60.0;
            let capacity = f64::from(limits.burst.max(1));
            let mut buckets = lock(&self.per_client);
            let key = ClientKey::of(ip);
            match buckets.get_mut(&key) {
                Some(bucket) => bucket.take(now, rate, capacity)?,
                None => {
                    let mut bucket = Bucket::full(capacity, now);
                    let taken = bucket.take(now, rate, capacity);
                    // Inserting beyond the capacity drops the least recently seen client.
                    buckets.insert(key, bucket);
                    taken?;
                }
            }
        }
        if limits.global_per_second > 0 {
            let rate = f64::from(limits.global_per_second);
            lock(&self.global).take(now, rate, rate)?;
        }
        Ok(())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.per_client).len()
    }
}

/// The buckets are counters: what a panicking holder left is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(per_ip_per_minute: u32, burst: u32, global_per_second: u32) -> RateLimits {
        RateLimits {
            per_ip_per_minute,
            burst,
            global_per_second,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn per_ip_burst_then_refill() {
        let limiter = Limiter::new(limits(60, 3, 0));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip("10.0.0.1"), t0).is_ok());
        }
        assert_eq!(limiter.check(ip("10.0.0.1"), t0), Err(1));
        assert!(
            limiter.check(ip("10.0.0.2"), t0).is_ok(),
            "limits are per IP"
        );
        assert!(
            limiter
                .check(ip("10.0.0.1"), t0 + Duration::from_secs(1))
                .is_ok(),
            "one a second refills"
        );
    }

    #[test]
    fn global_limit_covers_everyone() {
        let limiter = Limiter::new(limits(0, 0, 2));
        let t0 = Instant::now();
        assert!(limiter.check(ip("10.0.0.1"), t0).is_ok());
        assert!(limiter.check(ip("10.0.0.2"), t0).is_ok());
        assert!(limiter.check(ip("10.0.0.3"), t0).is_err());
    }

    /// Finding 1 of the security review: the global bucket was spent before
    /// the client's own, so one client over its limit locked everyone out.
    #[test]
    fn a_client_over_its_own_limit_does_not_drain_the_global_bucket() {
        let limiter = Limiter::new(limits(1, 1, 3));
        let t0 = Instant::now();
        let greedy = ip("10.0.0.1");
        assert!(limiter.check(greedy, t0).is_ok());
        for _ in 0..50 {
            assert!(limiter.check(greedy, t0).is_err());
        }
        for other in ["10.0.0.2", "10.0.0.3"] {
            assert!(
                limiter.check(ip(other), t0).is_ok(),
                "{other} is served: the refused requests spent no global token"
            );
        }
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_prefix() {
        let limiter = Limiter::new(limits(1, 2, 0));
        let t0 = Instant::now();
        assert!(limiter.check(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9"), t0).is_ok());
        assert!(
            limiter.check(ip("2001:db8:1:2:abcd::1"), t0).is_err(),
            "the same /64 shares one bucket"
        );
        assert!(
            limiter.check(ip("2001:db8:1:3::1"), t0).is_ok(),
            "another /64"
        );
        // An IPv4-mapped IPv6 peer is the IPv4 client.
        assert!(limiter.check(ip("192.0.2.7"), t0).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.7"), t0).is_ok());
        assert!(limiter.check(ip("192.0.2.7"), t0).is_err());
    }

    #[test]
    fn the_client_table_stays_bounded() {
        let limiter = Limiter::with_capacity(limits(1, 1, 0), 64);
        let t0 = Instant::now();
        for i in 0..1_000u32 {
            let _ = limiter.check(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(limiter.tracked(), 64);
        // The most recent clients are still limited.
        assert!(limiter
            .check(IpAddr::from(999u32.to_be_bytes()), t0)
            .is_err());
    }

    #[test]
    fn zero_means_off() {
        let limiter = Limiter::new(limits(0, 0, 0));
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(limiter.check(ip("10.0.0.1"), t0).is_ok());
        }
    }
}
