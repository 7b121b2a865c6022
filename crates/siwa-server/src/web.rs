//! The web flow: `/auth/apple/login` -> Apple -> `/auth/apple/callback`.
//!
//! The state and nonce live server-side (single use, 10 minutes). The state
//! is bound to the browser that started the sign-in by a `SameSite=Lax`
//! cookie; Apple's form_post is a cross-site POST that carries no such
//! cookie, so the callback first answers with a page that re-posts the same
//! fields from our own origin, which does carry it. That is the fix for the
//! "state mismatch after form_post" that this field knows so well.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use siwa_kit::callback::{AuthorizeError, Callback};
use siwa_kit::claims::Nonce;
use siwa_kit::client::{AuthorizeRequest, ResponseMode, ResponseType, Scope, State as OAuthState};
use siwa_kit::id_token::NoncePolicy;

use crate::app::AppState;
use crate::config::origin_of;
use crate::crypto::{random_token, same, sha256};
use crate::error::RETRY_AFTER_OUTAGE_SECS;
use crate::metrics::Metrics;
use crate::pages::{error_page, home_page, repost_page};
use crate::signin::{self, Attempt, CompleteError};
use crate::store::{NewLogin, StoreError};

/// How long a started sign-in may take.
const LOGIN_TTL_SECS: i64 = 600;
/// The callback's path (the re-post goes here).
const CALLBACK_PATH: &str = "/auth/apple/callback";

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
        return store_failed(&e);
    }
    let Some(apple) = app.apple_web() else {
        tracing::error!("no Apple client for the Services ID");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in is misconfigured",
            "See the service log.",
        );
    };
    let scopes = app
        .settings
        .scope
        .split_whitespace()
        .filter_map(|s| s.parse::<Scope>().ok());
    let request = AuthorizeRequest::new(app.redirect_uri.clone())
        .response_type(ResponseType::CodeIdToken)
        .response_mode(ResponseMode::FormPost)
        .scopes(scopes)
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

/// `POST /auth/apple/callback`: Apple's form_post.
pub(crate) async fn callback(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = callback_inner(&app, &headers, &body).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        Metrics::inc(&app.metrics.sign_in_failures);
    }
    response
}

async fn callback_inner(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let reposted = fields.iter().any(|(k, v)| k == "_siwa_repost" && v == "1");
    let Some(binding) = app.cookies.login(headers) else {
        if reposted {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Your browser did not keep the sign-in cookie",
                "The sign-in must finish in the browser that started it, with cookies enabled. Start again from this browser.",
            );
        }
        let original: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(k, _)| k != "_siwa_repost")
            .collect();
        return repost_page(CALLBACK_PATH, &original);
    };
    let callback = match Callback::parse(body) {
        Ok(callback) => callback,
        Err(e) => {
            tracing::info!(error = %e, "malformed callback");
            return error_page(
                StatusCode::BAD_REQUEST,
                "Apple's answer could not be read",
                "Start the sign-in again.",
            );
        }
    };
    let Some(state) = callback.state() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in has no state",
            "Start the sign-in again.",
        );
    };
    let login = match app.store.take_login(&sha256(state.secret().as_bytes()), app.now()).await {
        Ok(Some(login)) => login,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was already used",
                "The state is unknown: it was used once already, is older than 10 minutes, or was not issued here. Start again.",
            )
        }
        Err(e) => return store_failed(&e),
    };
    if !same(&sha256(binding.as_bytes()), &login.browser_hash) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "State mismatch",
            "This sign-in was started in another browser or tab session. Start again from this browser.",
        );
    }
    let auth = match callback {
        Callback::Authorized(auth) => auth,
        Callback::Denied(denial) => {
            let (title, detail) = match denial.error {
                AuthorizeError::UserCancelledAuthorize => (
                    "Sign-in cancelled",
                    "You cancelled Sign in with Apple. Nothing was shared.",
                ),
                _ => (
                    "Apple refused the sign-in",
                    "Apple answered with an error; see the service log.",
                ),
            };
            tracing::info!(
                error = denial.error.as_str(),
                "Apple denied the authorization"
            );
            return error_page(StatusCode::BAD_REQUEST, title, detail);
        }
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Unexpected answer from Apple",
                "Start again.",
            )
        }
    };
    let Some(id_token) = &auth.id_token else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Apple's answer has no identity token",
            "Start again.",
        );
    };
    let claims = match app
        .web_verifier
        .verify_with_nonce(
            id_token.secret(),
            &NoncePolicy::Exact(Nonce::new(login.nonce.clone())),
        )
        .await
    {
        Ok(claims) => claims,
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "Apple's keys are unavailable");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "Apple cannot be reached right now. Please try again in a moment.",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "identity token rejected");
            return error_page(
                StatusCode::BAD_REQUEST,
                "The identity token was rejected",
                "Apple's answer does not belong to this sign-in. Start again.",
            );
        }
    };
    let client_id = app.settings.client_id.as_str().to_owned();
    let session = match signin::complete(
        app,
        &Attempt {
            claims: &claims,
            identity_token: id_token.secret(),
            user: auth.user.as_ref(),
            code: &auth.code,
            client_id: &client_id,
            redirect_uri: Some(&app.redirect_uri),
        },
    )
    .await
    {
        Ok(session) => session,
        Err(e) => return completion_failed(&e),
    };
    Metrics::inc(&app.metrics.web_sign_ins);
    tracing::info!(user = %session.user.id, "web sign-in");
    let Some((web_token, max_age)) = signin::web_token(app, &session, &client_id, app.now()) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "Please try again in a moment.",
        );
    };
    let session_cookie = app.cookies.set_session(&web_token, max_age);
    let clear_login = app.cookies.clear_login();
    let mut response =
        (StatusCode::SEE_OTHER, [(header::LOCATION, login.return_to)]).into_response();
    for cookie in [session_cookie, clear_login] {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A store failure, as a page: 503 with `Retry-After` during an outage (the
/// store logged it), else a 500 whose cause is logged here.
fn store_failed(e: &StoreError) -> Response {
    let mut page = if e.outage().is_some() {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "Please try again in a moment.",
        )
    } else {
        tracing::error!(error = %e, "sign-in failed in the store");
        error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "Please try again in a moment.",
        )
    };
    if e.outage().is_some() {
        page.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_OUTAGE_SECS),
        );
    }
    page
}

fn completion_failed(e: &CompleteError) -> Response {
    match e {
        CompleteError::Store(e) => store_failed(e),
        CompleteError::TokenAlreadySpent => {
            tracing::info!(error = %e, "web sign-in refused");
            error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in was already used",
                "Start the sign-in again.",
            )
        }
        CompleteError::Apple(_)
        | CompleteError::ExchangedToken(_)
        | CompleteError::SubjectMismatch => {
            tracing::warn!(error = %e, "code exchange failed");
            error_page(
                StatusCode::BAD_GATEWAY,
                "Apple did not confirm the sign-in",
                "Nothing is lost: sign in again in a moment.",
            )
        }
        _ => {
            tracing::error!(error = %e, "sign-in failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in failed",
                "Please try again in a moment.",
            )
        }
    }
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
