//! Sign in with Apple JS: `appleid.auth.js` at Apple's path, and the page a
//! popup (`response_mode=web_message`) ends on, which hands the answer to its
//! opener, on the origin of the registered redirect URI only, and closes.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{json, Value};

/// Apple's path of the script (its CDN serves it there).
pub(crate) const SCRIPT_PATH: &str = "/appleauth/static/jsapi/appleid/1/en_US/appleid.auth.js";

const SCRIPT: &str = include_str!("js/appleid.auth.js");

/// `GET /appleauth/static/jsapi/appleid/1/en_US/appleid.auth.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
            // Pages of any origin load it, as they do Apple's.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The popup's last page: posts `{"method":"oauthDone","data":…}` to its
/// opener at `origin` (the redirect URI's: no other page can read it) and
/// closes. `fields` are the authorization's (`code`, `id_token`, `state`,
/// `user` as Apple's JSON text) or a refusal's (`error`, `state`).
pub(crate) fn web_message_page(origin: &str, fields: &[(&str, String)]) -> Response {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    let data = match get("error") {
        Some(error) => json!({"error": error, "state": get("state")}),
        None => {
            let mut data = json!({"authorization": {
                "code": get("code"),
                "id_token": get("id_token"),
                "state": get("state"),
            }});
            if let Some(user) = get("user").and_then(|u| serde_json::from_str::<Value>(&u).ok()) {
                data["user"] = user;
            }
            data
        }
    };
    let message = json!({"method": "oauthDone", "data": data}).to_string();
    let page = format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing in…</title></head>
<body><p>You can close this window.</p>
<script>
(function () {{
  var message = {message};
  if (window.opener) {{
    window.opener.postMessage(message, {origin});
  }}
  window.setTimeout(function () {{ window.close(); }}, 200);
}})();
</script></body></html>
"#,
        // JSON in a script: `<` escaped, so no `</script>` can end it early.
        message = script_json(&Value::String(message)),
        origin = script_json(&Value::String(origin.to_owned())),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// JSON text safe inside a `<script>` element.
fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `scheme://host[:port]` of an absolute URL (the redirect URIs are checked
/// at configuration to be absolute).
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && !authority.contains('@')).then(|| {
        format!(
            "{}://{}",
            scheme.to_ascii_lowercase(),
            authority.to_ascii_lowercase()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_cannot_break_out_of_its_script() {
        let page = web_message_page(
            "https://example.com",
            &[
                ("error", "user_cancelled_authorize".into()),
                ("state", "</script><script>alert(1)".into()),
            ],
        );
        let body = futures_body(page);
        assert!(!body.contains("</script><script>alert"), "{body}");
        assert!(body.contains("\"https://example.com\""));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://Example.com:8443/cb?x=1").as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(origin_of("https://user@evil.com/cb"), None);
        assert_eq!(origin_of("/relative"), None);
    }

    fn futures_body(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
