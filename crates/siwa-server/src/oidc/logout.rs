//! `GET/POST /oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0): ends
//! the browser's session at the service and, with an `id_token_hint`, the
//! grant that ID token belongs to; then back to a registered
//! `post_logout_redirect_uri` (with `state`), or a "signed out" page.
//!
//! A logout without a valid hint could be any site's doing: the user is
//! asked first, and the page's own POST (same-origin, so it carries the
//! `SameSite=Lax` session cookie, which a cross-site POST would not) does it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use siwa_kit::jwks::KeyCache;
use siwa_kit::jws::{self, Es256Key, Rs256};

use super::errors::redirect_with;
use super::session::BrowserSession;
use super::settings::OidcSettings;
use crate::app::AppState;
use crate::pages::{error_page, escape};

/// What a valid `id_token_hint` tells.
#[derive(Debug, Deserialize)]
struct Hint {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
}

/// `GET /oauth2/logout` and `POST /oauth2/logout`.
#[utoipa::path(
    method(get, post),
    path = "/oauth2/logout",
    tag = "openid-provider",
    summary = "RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)",
    description = "Parameters in the query (GET) or a form (POST). Without a valid `id_token_hint`, a GET asks the user first.",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token this service issued"),
        ("client_id" = Option<String>, Query, description = "The client (needed for `post_logout_redirect_uri` without a hint)"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered for the client"),
        ("state" = Option<String>, Query, description = "Echoed to `post_logout_redirect_uri`"),
    ),
    responses(
        (status = 200, description = "The confirmation or \"signed out\" page (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out: to `post_logout_redirect_uri` (`Location`)"),
        (status = 400, description = "A hint or return address this service does not accept (HTML)", body = String, content_type = "text/html"),
        (status = 404, description = "No `[oidc]` section: the provider is not served"),
    )
)]
pub(crate) async fn logout(
    State(app): State<Arc<AppState>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let source: &[u8] = if method == Method::POST {
        &body
    } else {
        query.as_deref().unwrap_or("").as_bytes()
    };
    let params: HashMap<String, String> = form_urlencoded::parse(source)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let hint = match get("id_token_hint") {
        None => None,
        Some(token) => match verify_hint(&app, oidc, token).await {
            Some(hint) => Some(hint),
            None => {
                return refused("The sign-out link carries an ID token this service did not issue.")
            }
        },
    };
    let client_id = match (get("client_id"), &hint) {
        (Some(id), Some(hint)) if id != hint.aud => {
            return refused("The sign-out link names two different applications.")
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(hint)) => Some(hint.aud.clone()),
        (None, None) => None,
    };
    let post_logout = match get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client_id
                .as_deref()
                .and_then(|id| oidc.client(id))
                .is_some_and(|c| c.allows_post_logout(uri));
            if !registered {
                return refused(
                    "The sign-out link's return address is not registered for the application.",
                );
            }
            Some(uri.to_owned())
        }
    };
    let browser = match super::session::of(&app, &headers).await {
        Ok(browser) => browser,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    // Only the browser's own user's ID token speaks for it: without a hint,
    // or with someone else's (any site can link here with its own), the
    // user is asked, and only the page's own same-origin POST signs out.
    let speaks_for_browser = match (&hint, &browser) {
        (Some(hint), Some(browser)) => hint.sub == browser.user.id,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !speaks_for_browser && method != Method::POST {
        return confirm_page(client_id.as_deref(), &params);
    }
    if let Err(e) = end_sessions(&app, browser.as_ref(), hint.as_ref()).await {
        return crate::error::ApiError::from(e).into_response();
    }
    let clear = app.cookies.clear_session();
    let mut response = match post_logout {
        Some(uri) => {
            let mut pairs = Vec::new();
            if let Some(state) = get("state") {
                pairs.push(("state", state));
            }
            redirect_with(&uri, &pairs)
        }
        None => signed_out_page(),
    };
    if let Ok(value) = clear.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Ends the browser's session, and the hint's grant when it is its user's.
async fn end_sessions(
    app: &AppState,
    browser: Option<&BrowserSession>,
    hint: Option<&Hint>,
) -> Result<(), crate::store::StoreError> {
    if let Some(browser) = browser {
        app.store.end_session(&browser.family_id).await?;
        tracing::info!(user = %browser.user.id, "signed out by a relying party");
    }
    if let Some(hint) = hint {
        let theirs = app.store.grant(&hint.sid).await?.is_some_and(|grant| {
            grant.user_id == hint.sub && grant.oidc.is_some_and(|g| g.client_id == hint.aud)
        });
        if theirs {
            app.store.end_session(&hint.sid).await?;
        }
    }
    Ok(())
}

/// The hint's claims if we signed it (RS256 or the ES256 of a client that
/// asked for it), for a registered client. Its expiry does not matter: a
/// relying party often logs out with an old ID token.
async fn verify_hint(app: &AppState, oidc: &OidcSettings, token: &str) -> Option<Hint> {
    let jwks = serde_json::to_vec(&serde_json::json!({ "keys": oidc.keys.jwks() })).ok()?;
    let keys = KeyCache::from_json(&jwks).ok()?;
    let payload = match jws::verify(token, &keys, Rs256).await {
        Ok(verified) => verified.payload().to_owned(),
        Err(_) => {
            let ours = Es256Key::new(app.keys.session(), app.keys.session_kid());
            let ((), verified) = ours.verify(token, &[("JWT", ())]).ok()?;
            verified.payload().to_owned()
        }
    };
    let hint: Hint = serde_json::from_str(&payload).ok()?;
    (hint.iss == oidc.issuer && oidc.client(&hint.aud).is_some()).then_some(hint)
}

fn refused(detail: &'static str) -> Response {
    tracing::info!(detail, "logout request refused");
    error_page(
        StatusCode::BAD_REQUEST,
        "This sign-out link is not valid",
        detail,
    )
}

/// Asks the user before signing out; the button posts the same parameters
/// (the client named, or the one the hint named).
fn confirm_page(client_id: Option<&str>, params: &HashMap<String, String>) -> Response {
    let mut inputs = String::new();
    if let Some(id) = client_id {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"client_id\" value=\"{}\">",
            escape(id)
        ));
    }
    for name in ["post_logout_redirect_uri", "state"] {
        if let Some(value) = params.get(name) {
            inputs.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            ));
        }
    }
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out</title></head>\
<body><h1>Sign out?</h1><p>An application asks to sign you out of this service.</p>\
<form method=\"post\" action=\"/oauth2/logout\">{inputs}<button id=\"sign-out\" type=\"submit\">Sign out</button></form></body></html>"
    );
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(body),
    )
        .into_response()
}

fn signed_out_page() -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Html(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title></head>\
<body><h1 id=\"signed-out\">You are signed out</h1><p><a href=\"/\">Home</a></p></body></html>",
        ),
    )
        .into_response()
}
