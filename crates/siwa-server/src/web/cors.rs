//! CORS for `/auth/apple/web/*`: pages of the origins in
//! `allowed_web_origins` (and the service's own) may call them with
//! credentials; any other origin is refused twice, by the browser (no CORS
//! headers) and by the service (403), so a page elsewhere cannot start or
//! finish a sign-in in the user's browser.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::origin_of;
use crate::error::ApiError;

/// Middleware of the popup routes.
pub(crate) async fn cors(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        // Not a browser's cross-origin call (a same-origin GET, a server, a test).
        return next.run(request).await;
    };
    if !allowed(&app, &origin) {
        tracing::info!(%origin, "web sign-in call from an origin not in allowed_web_origins");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this page's origin may not call the sign-in API; add it to allowed_web_origins",
        )
        .into_response();
    }
    let mut response = if request.method() == Method::OPTIONS {
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        preflight
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// The service's own origin, or one a web client lists.
fn allowed(app: &AppState, origin: &str) -> bool {
    let Some(origin) = origin_of(origin).filter(|o| o == &origin.to_ascii_lowercase()) else {
        return false;
    };
    origin == app.settings.public_origin()
        || app
            .settings
            .web
            .iter()
            .any(|client| client.allowed_web_origins.contains(&origin))
}
