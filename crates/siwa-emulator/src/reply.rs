//! Apple's response shapes: error JSON with its headers, token JSON, and the
//! request form parsing every POST route shares.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Apple's `400 {"error": code}`, with the reason in the log and `X-Emulator-Reason`.
pub(crate) fn apple_error(code: &'static str, reason: &str) -> Response {
    tracing::info!(error = code, reason, "request refused");
    let mut response = (
        StatusCode::BAD_REQUEST,
        no_store_headers(),
        serde_json::json!({ "error": code }).to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&header_safe(reason)) {
        response.headers_mut().insert("x-emulator-reason", value);
    }
    response
}

/// A refused request: Apple's error code and the emulator's reason.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: &'static str,
    reason: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        apple_error(self.code, &self.reason)
    }
}

/// `200` JSON with Apple's `Cache-Control: no-store` / `Pragma: no-cache`.
pub(crate) fn apple_json(body: &Value) -> Response {
    (StatusCode::OK, no_store_headers(), body.to_string()).into_response()
}

fn no_store_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// A header value keeps printable ASCII only.
fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(300)
        .collect()
}

/// A parsed `application/x-www-form-urlencoded` body.
#[derive(Debug)]
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    /// Parses the body; a repeated field or another content type is Apple's `invalid_request`.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, Refusal> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(Refusal::new(
                "invalid_request",
                format!("content-type is {content_type:?}, not application/x-www-form-urlencoded"),
            ));
        }
        let mut fields = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if fields
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(Refusal::new(
                    "invalid_request",
                    format!("field {name} is repeated"),
                ));
            }
        }
        Ok(Self(fields))
    }

    /// A field, if present and non-empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required field, or `invalid_request` naming it.
    pub(crate) fn require(&self, name: &str) -> Result<&str, Refusal> {
        self.get(name)
            .ok_or_else(|| Refusal::new("invalid_request", format!("missing {name}")))
    }
}
