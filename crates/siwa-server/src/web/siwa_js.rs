//! `GET /siwa.js`: the front end to copy (see the script's header), with the
//! URL of Apple's JS of this deployment (Apple's CDN, or the emulator's copy).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

const SCRIPT: &str = include_str!("siwa.js");

/// `GET /siwa.js`.
#[utoipa::path(
    get,
    path = "/siwa.js",
    tag = "web",
    summary = "The front end to copy: Apple's button, the popup, the redirect fallback",
    responses((status = 200, description = "JavaScript", body = String, content_type = "application/javascript"))
)]
pub(crate) async fn script(State(app): State<Arc<AppState>>) -> Response {
    // A JSON string is a JavaScript string literal; `<` escaped for good measure.
    let url = serde_json::Value::String(app.settings.apple_js_url.clone())
        .to_string()
        .replace('<', "\\u003c");
    let body = SCRIPT.replace("'__APPLE_JS_URL__'", &url);
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
            // Pages of the allowed web origins load it with <script src>.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}
