//! The web flow: `/auth/apple/login` -> Apple -> `/auth/apple/callback`.
//!
//! The state and nonce live server-side (single use, 10 minutes). The state
//! is bound to the browser that started the sign-in by a `SameSite=Lax`
//! cookie; Apple's form_post is a cross-site POST that carries no such
//! cookie, so the callback first answers with a page that re-posts the same
//! fields from our own origin, which does carry it. That is the fix for the
//! "state mismatch after form_post" that this field knows so well.

//!
//! - `mod.rs`: the home page and `/auth/apple/login` (state, nonce, the
//!   browser-binding cookie, Apple's authorize URL);
//! - `callback.rs`: `/auth/apple/callback`, as the steps of the flow;
//! - `failure.rs`: what can go wrong in the flow, and the page each shows.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use siwa_kit::claims::Nonce;
use siwa_kit::client::{AuthorizeRequest, ResponseMode, ResponseType, State as OAuthState};

use crate::app::AppState;
use crate::config::origin_of;
use crate::config::WebClient;
use crate::crypto::{random_token, sha256};
use crate::pages::error_page;
use crate::store::{NewLogin, StoreError};

pub(crate) mod callback;
pub(crate) mod cors;
mod failure;
pub(crate) mod popup;
pub(crate) mod siwa_js;

use failure::WebFailure;

/// How long a started sign-in may take.
pub(crate) const LOGIN_TTL_SECS: i64 = 600;

/// The home page: the popup and the redirect sign-in, the signed-in profile
/// with what Apple sent, sign-out and account deletion (`siwa demo`'s page).
const HOME: &str = include_str!("home.html");

/// `GET /`. It opens Apple's popup, whose answer comes back by `postMessage`:
/// the opener policy keeps that channel (and nothing else) open.
#[utoipa::path(
    get,
    path = "/",
    tag = "web",
    summary = "The home page: Sign in with Apple (popup or redirect), the profile, sign-out and account deletion",
    responses((status = 200, description = "HTML", body = String, content_type = "text/html"))
)]
pub(crate) async fn home() -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin-allow-popups",
            ),
        ],
        Html(HOME),
    )
        .into_response()
}

/// `GET /auth/apple/login?return_to=URL`.
#[utoipa::path(
    get,
    path = "/auth/apple/login",
    tag = "web",
    summary = "Start a web sign-in with Apple",
    description = "Keeps the attempt (state, nonce) server-side, binds it to the browser with the login cookie, and sends the browser to Apple, which comes back to `/auth/apple/callback`.",
    params(("return_to" = Option<String>, Query, description = "Where to send the browser once signed in: a path of this service, or a URL on an allowed origin (default `/`)")),
    responses(
        (status = 302, description = "To Apple's authorize page (`Location`), with the login cookie"),
        (status = 400, description = "`return_to` is not allowed (HTML)", body = String, content_type = "text/html"),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn login(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let client = match query.get("client_id") {
        None => app.primary_web(),
        Some(id) => match app.web_client(id) {
            Some(client) => client,
            None => {
                tracing::info!(client_id = %id, "sign-in link for an unknown Services ID");
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in link is not allowed",
                    "It names an application this service does not serve.",
                );
            }
        },
    };
    let return_to =
        match checked_return_to(&app, client, query.get("return_to").map(String::as_str)) {
            Ok(url) => url,
            Err(why) => {
                tracing::info!(%why, "sign-in link refused");
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in link is not allowed",
                    "It would send you to a site this service does not serve.",
                );
            }
        };
    begin_sign_in(&app, client, return_to).await
}

/// A sign-in attempt kept server-side: its state and nonce for Apple, and
/// the value of the login cookie that binds it to the browser.
pub(crate) struct NewAttempt {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) binding: String,
}

/// Keeps a new sign-in attempt of `client` (state and nonce single use, 10
/// minutes), returning to `return_to`, to be exchanged with `redirect_uri`
/// when that is not the client's callback (a popup page).
pub(crate) async fn new_attempt(
    app: &AppState,
    client: &WebClient,
    return_to: String,
    redirect_uri: Option<String>,
) -> Result<NewAttempt, StoreError> {
    let attempt = NewAttempt {
        state: random_token(),
        nonce: random_token(),
        binding: random_token(),
    };
    let now = app.now();
    let login = NewLogin {
        state_hash: sha256(attempt.state.as_bytes()),
        nonce: attempt.nonce.clone(),
        browser_hash: sha256(attempt.binding.as_bytes()),
        return_to,
        client_id: Some(client.client_id.as_str().to_owned()),
        redirect_uri,
        created_at: now,
        expires_at: now + LOGIN_TTL_SECS,
    };
    app.store.put_login(&login).await?;
    Ok(attempt)
}

/// Starts a sign-in with Apple for `client` that returns the browser to
/// `return_to` (an address the caller has checked): the attempt kept
/// server-side, the browser bound to it by the login cookie, and off to Apple.
pub(crate) async fn begin_sign_in(
    app: &AppState,
    client: &WebClient,
    return_to: String,
) -> Response {
    let NewAttempt {
        state,
        nonce,
        binding,
    } = match new_attempt(app, client, return_to, None).await {
        Ok(attempt) => attempt,
        Err(e) => return WebFailure::Store(e).into_response(),
    };
    let Some(apple) = app.apple_for(client.client_id.as_str()) else {
        tracing::error!("no Apple client for the Services ID");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in is misconfigured",
            "See the service log.",
        );
    };
    let request = AuthorizeRequest::new(client.redirect_uri.clone())
        .response_type(ResponseType::CodeIdToken)
        .response_mode(ResponseMode::FormPost)
        .scopes(app.settings.scopes.iter().cloned())
        .state(OAuthState::new(state))
        .nonce(Nonce::new(nonce));
    let url = match apple.authorize_url(&request) {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "cannot build Apple's authorize URL");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is misconfigured",
                "See the service log.",
            );
        }
    };
    let cookie = app.cookies.set_login(&binding, LOGIN_TTL_SECS);
    (
        StatusCode::FOUND,
        [(header::LOCATION, url), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

/// `return_to` as an absolute URL on an origin `client` allows (no open redirect).
fn checked_return_to(
    app: &AppState,
    client: &WebClient,
    return_to: Option<&str>,
) -> Result<String, String> {
    let value = return_to.unwrap_or("/").trim();
    if value.starts_with('/') && !value.starts_with("//") && !value.starts_with("/\\") {
        return Ok(format!("{}{value}", app.settings.public_url));
    }
    let allowed =
        origin_of(value).is_some_and(|origin| client.allowed_return_origins.contains(&origin));
    if allowed {
        Ok(value.to_owned())
    } else {
        Err(format!("return_to {value:?} is not on an allowed origin."))
    }
}
