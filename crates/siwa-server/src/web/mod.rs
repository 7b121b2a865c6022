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
use axum::response::{IntoResponse, Response};
use siwa_kit::claims::Nonce;
use siwa_kit::client::{AuthorizeRequest, ResponseMode, ResponseType, State as OAuthState};

use crate::app::AppState;
use crate::config::origin_of;
use crate::crypto::{random_token, sha256};
use crate::pages::{error_page, home_page};
use crate::store::NewLogin;

mod callback;
mod failure;

pub(crate) use callback::callback;
use failure::WebFailure;

/// How long a started sign-in may take.
const LOGIN_TTL_SECS: i64 = 600;

/// `GET /`.
pub(crate) async fn home() -> Response {
    home_page()
}

/// `GET /auth/apple/login?return_to=URL`.
pub(crate) async fn login(
    State(app): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let return_to = match checked_return_to(&app, query.get("return_to").map(String::as_str)) {
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
    begin_sign_in(&app, return_to).await
}

/// Starts a sign-in with Apple that returns the browser to `return_to` (an
/// address the caller has checked): the attempt kept server-side, the
/// browser bound to it by the login cookie, and off to Apple.
pub(crate) async fn begin_sign_in(app: &AppState, return_to: String) -> Response {
    let (state, nonce, binding) = (random_token(), random_token(), random_token());
    let now = app.now();
    let login = NewLogin {
        state_hash: sha256(state.as_bytes()),
        nonce: nonce.clone(),
        browser_hash: sha256(binding.as_bytes()),
        return_to,
        created_at: now,
        expires_at: now + LOGIN_TTL_SECS,
    };
    if let Err(e) = app.store.put_login(&login).await {
        return WebFailure::Store(e).into_response();
    }
    let Some(apple) = app.apple_web() else {
        tracing::error!("no Apple client for the Services ID");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in is misconfigured",
            "See the service log.",
        );
    };
    let request = AuthorizeRequest::new(app.settings.redirect_uri.clone())
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

/// `return_to` as an absolute URL on an allowed origin (no open redirect).
fn checked_return_to(app: &AppState, return_to: Option<&str>) -> Result<String, String> {
    let value = return_to.unwrap_or("/").trim();
    if value.starts_with('/') && !value.starts_with("//") && !value.starts_with("/\\") {
        return Ok(format!("{}{value}", app.settings.public_url));
    }
    let allowed = origin_of(value)
        .is_some_and(|origin| app.settings.allowed_return_origins.contains(&origin));
    if allowed {
        Ok(value.to_owned())
    } else {
        Err(format!("return_to {value:?} is not on an allowed origin."))
    }
}
