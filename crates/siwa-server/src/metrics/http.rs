//! `siwa_http_request_duration_seconds{route,method,status}`: how long each
//! request took, from the moment the routes saw it to its response's headers.
//!
//! `route` is the route's template (`/oidc/...{id}` as the route table writes
//! it, from axum's [`MatchedPath`]), never the path the client sent: paths are
//! the client's to invent, and a label per invented path would let anyone grow
//! the scrape without bound. Requests no route matched share
//! `route="unmatched"`; methods outside the standard ones share
//! `method="other"`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The request latencies (cheap to clone: the series are shared).
#[derive(Clone, Debug)]
pub(crate) struct HttpMetrics {
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, EncodeLabelSet, Eq, Hash, PartialEq)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            durations: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }
}

impl HttpMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "siwa_http_request_duration",
            "Time to answer a request, by route template, method and status",
            Unit::Seconds,
            self.durations.clone(),
        );
    }

    fn record(&self, labels: &RequestLabels, seconds: f64) {
        self.durations.get_or_create(labels).observe(seconds);
    }
}

/// Middleware of every route: times the request and records it under its
/// route's template.
pub(crate) async fn observe(
    State(metrics): State<HttpMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RequestLabels {
        route,
        method,
        status: response.status().as_u16(),
    };
    metrics.record(&labels, started.elapsed().as_secs_f64());
    response
}

/// The method's name, or `other` for an extension method (a bounded label).
fn method_label(method: &Method) -> &'static str {
    const NAMES: [&str; 9] = [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    ];
    NAMES
        .into_iter()
        .find(|name| *name == method.as_str())
        .unwrap_or("other")
}

const UNMATCHED: &str = "unmatched";
/// From 5 ms (a refresh, a page) to 30 s (the request timeout).
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_a_bounded_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        let invented = Method::from_bytes(b"PROPFIND-A1B2").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
