//! Abuse limits: per-IP and global rate limits on the sign-in endpoints
//! (429 with `Retry-After`), and a bound on request header size (431).
//!
//! Token buckets: each IP gets `burst` requests at once and `per_ip_per_minute`
//! after that; all IPs together get `global_per_second`. A limit of 0 turns it
//! off. The client IP is the peer address, or the first `X-Forwarded-For` hop
//! when `trust_forwarded_for` is set (only behind a proxy that sets it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Largest total size of request headers accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Tracked IPs beyond which idle ones are forgotten.
const MAX_TRACKED_IPS: usize = 100_000;

/// The limits, from the settings.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    /// Sustained requests per minute per IP (0: no per-IP limit).
    pub per_ip_per_minute: u32,
    /// Requests an IP may make at once.
    pub burst: u32,
    /// Requests per second from everyone together (0: no global limit).
    pub global_per_second: u32,
    /// Take the client IP from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
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
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// The buckets of one service process.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: RateLimits,
    per_ip: Mutex<HashMap<IpAddr, Bucket>>,
    global: Mutex<Bucket>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        let now = Instant::now();
        Self {
            limits,
            per_ip: Mutex::new(HashMap::new()),
            global: Mutex::new(Bucket {
                tokens: f64::from(limits.global_per_second),
                updated: now,
            }),
        }
    }

    /// `Err(retry_after_secs)` when `ip` (or everyone) is over the limit.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let limits = self.limits;
        if limits.global_per_second > 0 {
            let rate = f64::from(limits.global_per_second);
            let mut global = self
                .global
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            global.take(now, rate, rate)?;
        }
        if limits.per_ip_per_minute > 0 {
            let rate = f64::from(limits.per_ip_per_minute) / 60.0;
            let capacity = f64::from(limits.burst.max(1));
            let mut buckets = self
                .per_ip
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if buckets.len() >= MAX_TRACKED_IPS {
                // Forget IPs whose bucket has refilled: they lose nothing.
                buckets.retain(|_, b| {
                    now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity
                });
            }
            let bucket = buckets.entry(ip).or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
            bucket.take(now, rate, capacity)?;
        }
        Ok(())
    }
}

/// Middleware of the sign-in routes.
pub(crate) async fn rate_limit(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
    let ip = client_ip(&app.limiter.limits, peer, &request);
    match app.limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(%ip, retry_after, "rate limited");
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"error": "rate_limited", "message": "too many sign-in attempts; retry later"})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

/// Middleware of every route: refuses oversized headers.
pub(crate) async fn header_limit(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + request.uri().to_string().len();
    if size > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
            .into_response();
    }
    next.run(request).await
}

fn client_ip(limits: &RateLimits, peer: SocketAddr, request: &Request) -> IpAddr {
    if limits.trust_forwarded_for {
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    peer.ip()
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
            trust_forwarded_for: false,
        }
    }

    #[test]
    fn per_ip_burst_then_refill() {
        let limiter = Limiter::new(limits(60, 3, 0));
        let t0 = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        assert_eq!(limiter.check(ip, t0), Err(1));
        assert!(limiter.check(other, t0).is_ok(), "limits are per IP");
        assert!(
            limiter.check(ip, t0 + Duration::from_secs(1)).is_ok(),
            "one a second refills"
        );
    }

    #[test]
    fn global_limit_covers_everyone() {
        let limiter = Limiter::new(limits(0, 0, 2));
        let t0 = Instant::now();
        assert!(limiter.check("10.0.0.1".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("10.0.0.2".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("10.0.0.3".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn zero_means_off() {
        let limiter = Limiter::new(limits(0, 0, 0));
        let t0 = Instant::now();
        for _ in 0..10_000 {
            assert!(limiter.check("10.0.0.1".parse().unwrap(), t0).is_ok());
        }
    }
}
