//! The axum middleware of the routes: rate limits of a group of routes and the
//! bound on request headers. Each takes only what it uses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::forwarded::TrustedProxies;
use crate::limits::{Limiter, RateLimits};

/// Largest total size of request headers accepted.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The rate limit of one group of routes: its buckets, and who the client is.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// Names the group in logs.
    name: &'static str,
    limiter: Limiter,
    proxies: TrustedProxies,
}

impl RateLimit {
    pub(crate) fn new(name: &'static str, limits: RateLimits, proxies: TrustedProxies) -> Self {
        Self {
            name,
            limiter: Limiter::new(limits),
            proxies,
        }
    }
}

/// Refuses a request over its client's (or everyone's) limit: 429 with `Retry-After`.
pub(crate) async fn rate_limit(
    State(limit): State<Arc<RateLimit>>,
    request: Request,
    next: Next,
) -> Response {
    // The peer comes from the server (`into_make_service_with_connect_info`);
    // a router driven without a socket (tests) has none.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let ip = limit.proxies.client_ip(peer, request.headers());
    match limit.limiter.check(ip, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(%ip, group = limit.name, retry_after, "rate limited");
            ApiError::rate_limited(retry_after).into_response()
        }
    }
}

/// Refuses oversized request headers (431).
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
