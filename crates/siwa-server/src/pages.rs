//! The few HTML pages a browser sees: the home page with the "Sign in with
//! Apple" button, error pages, and the same-origin re-POST of Apple's answer.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML content and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:-apple-system,system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#111}\
.apple{display:inline-block;background:#000;color:#fff;padding:.7rem 1.4rem;border-radius:8px;text-decoration:none;font-size:1.05rem}\
.card{border:1px solid #ddd;border-radius:10px;padding:1rem;margin:1rem 0}.muted{color:#666}button{font-size:1rem;padding:.5rem 1rem;border-radius:8px}";

/// A page that says what went wrong (a fixed phrase; the detail is in the
/// log under the request id it shows) and links home.
pub(crate) fn error_page(
    status: StatusCode,
    title: &'static str,
    detail: &'static str,
) -> Response {
    let reference = crate::request_id::current()
        .map(|id| {
            format!(
                "<p class=\"muted\">Reference: <code id=\"request-id\">{}</code></p>",
                escape(&id)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head>\
<body><h1>{title}</h1><p id=\"detail\">{detail}</p>{reference}<p><a class=\"apple\" href=\"/auth/apple/login\">Try again</a> <a href=\"/\">Home</a></p></body></html>",
        title = escape(title),
        detail = escape(detail),
    );
    (status, [("cache-control", "no-store")], Html(body)).into_response()
}

/// Re-posts Apple's form_post fields to the same URL from our own origin, so
/// the SameSite=Lax login cookie comes along (Apple's cross-site POST carries
/// none), marked with the field `marker`.
pub(crate) fn repost_page(action: &str, marker: &str, fields: &[(String, String)]) -> Response {
    let mut inputs = String::new();
    for (name, value) in fields {
        let _ = write!(
            inputs,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in…</title></head>\
<body onload=\"document.forms[0].submit()\"><form method=\"POST\" action=\"{action}\">{inputs}\
<input type=\"hidden\" name=\"{marker}\" value=\"1\"><noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        action = escape(action),
        marker = escape(marker),
    );
    ([("cache-control", "no-store")], Html(body)).into_response()
}
