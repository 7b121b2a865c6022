//! A request id for every request: generated here (never taken from the
//! client, whose header could forge log lines), sent back as `X-Request-Id`,
//! named in every JSON error and error page, and carried by the request's
//! log span, so that an operator finds the detail a client was not shown.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::crypto::random_id;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header.
pub(crate) const HEADER: &str = "x-request-id";

/// The id of the request being handled, if any (outside a request: `None`).
pub(crate) fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Middleware of every route.
pub(crate) async fn assign(request: Request, next: Next) -> Response {
    let id = random_id();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request))
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
