//! `POST /auth/apple/callback`: Apple's form_post, as the steps of the flow.
//!
//! Apple's form_post is a cross-site POST, so it carries no `SameSite=Lax`
//! cookie: the first arrival is answered with a page that re-posts the same
//! fields from our own origin, which does carry the login cookie. Then:
//! the form is read, the sign-in attempt taken back by its state (single
//! use), the browser checked against the one that started it, Apple's
//! answer (a code, or a refusal) read, the identity token verified with the
//! attempt's nonce, the sign-in completed (see `signin`), and the browser
//! sent back signed in.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use siwa_kit::callback::{Authorization, Callback};
use siwa_kit::claims::{Claims, Nonce};
use siwa_kit::client::RedirectUri;
use siwa_kit::id_token::NoncePolicy;

use super::failure::WebFailure;
use crate::app::AppState;
use crate::config::WebClient;
use crate::crypto::{same, sha256};
use crate::metrics::Metrics;
use crate::pages::repost_page;
use crate::signin::{self, Attempt, Session};
use crate::store::Login;

/// The callback's path (the re-post goes here).
const CALLBACK_PATH: &str = "/auth/apple/callback";
/// The field that marks the same-origin re-post.
const REPOST_FIELD: &str = "_siwa_repost";

/// `POST /auth/apple/callback`.
#[utoipa::path(
    post,
    path = "/auth/apple/callback",
    tag = "web",
    summary = "Apple's form_post (the redirect URI registered with Apple)",
    description = "Apple's cross-site form_post carries no `SameSite=Lax` cookie, so its first arrival is answered with a page that re-posts the same fields from this origin. With the login cookie: the state is taken (single use), the identity token verified with the attempt's nonce, the code exchanged at Apple, and the browser sent back signed in.",
    request_body(content = CallbackForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The same-origin re-post page (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: to `return_to`, with the session cookie (`Location`, `Set-Cookie`)"),
        (status = 400, description = "The sign-in failed: expired, replayed, another browser's, cancelled or malformed (HTML)", body = String, content_type = "text/html"),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
        (status = 502, description = "Apple did not confirm the sign-in (HTML)", body = String, content_type = "text/html"),
    )
)]
pub(crate) async fn callback(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = match app.cookies.login(&headers) {
        None => repost(&body).unwrap_or_else(IntoResponse::into_response),
        Some(binding) => sign_in(&app, binding, &body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        Metrics::inc(&app.metrics.sign_in_failures);
    }
    response
}

/// Without the login cookie: Apple's cross-site post, to be re-posted from
/// our origin; or our re-post, which the browser sent without the cookie.
fn repost(body: &[u8]) -> Result<Response, WebFailure> {
    let mut fields = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if name == REPOST_FIELD {
            return Err(WebFailure::CookieLost);
        }
        fields.push((name.into_owned(), value.into_owned()));
    }
    Ok(repost_page(CALLBACK_PATH, REPOST_FIELD, &fields))
}

/// The fields of Apple's form_post, as the document describes them (the body
/// is read by `siwa_kit::callback::Callback`; this type only describes it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct CallbackForm {
    /// The authorization code (single use, five minutes).
    code: Option<String>,
    /// The identity token (response type `code id_token`).
    id_token: Option<String>,
    /// The state of `/auth/apple/login`.
    state: Option<String>,
    /// JSON `{"name":{"firstName","lastName"},"email"}`, first sign-in only.
    user: Option<String>,
    /// Apple's refusal (`user_cancelled_authorize`).
    error: Option<String>,
}

/// The steps of a sign-in whose browser carries the login cookie `binding`.
async fn sign_in(app: &AppState, binding: &str, body: &[u8]) -> Result<Response, WebFailure> {
    let callback = Callback::parse(body).map_err(WebFailure::Malformed)?;
    let login = take_attempt(app, &callback).await?;
    same_browser(binding, &login)?;
    let authorization = match authorized(callback) {
        // A relying party's sign-in: the client hears of the refusal.
        Err(WebFailure::Denied(_)) if crate::oidc::is_resume(app, &login.return_to) => {
            let back = crate::oidc::cancelled(&login.return_to);
            return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response());
        }
        other => other?,
    };
    let client = client_of(app, &login)?;
    let client_id = client.client_id.as_str();
    let id_token = authorization
        .id_token
        .as_ref()
        .ok_or(WebFailure::NoIdentityToken)?
        .secret();
    let claims = verify_identity(app, id_token, &login, client_id).await?;
    let redirect_uri = exchange_redirect_uri(client, &login)?;
    let session = signin::complete(
        app,
        &Attempt {
            claims: &claims,
            identity_token: id_token,
            user: authorization.user.as_ref(),
            code: &authorization.code,
            client_id,
            redirect_uri: Some(&redirect_uri),
        },
    )
    .await
    .map_err(WebFailure::Completion)?;
    Metrics::inc(&app.metrics.web_sign_ins);
    tracing::info!(user = %session.user.id, "web sign-in");
    signed_in(app, &session, client_id, login.return_to)
}

/// The sign-in attempt of the callback's state, taken back (single use, unexpired).
async fn take_attempt(app: &AppState, callback: &Callback) -> Result<Login, WebFailure> {
    let state = callback.state().ok_or(WebFailure::NoState)?;
    app.store
        .take_login(&sha256(state.secret().as_bytes()), app.now())
        .await
        .map_err(WebFailure::Store)?
        .ok_or(WebFailure::UnknownState)
}

/// The attempt was started by this browser (its login cookie).
fn same_browser(binding: &str, login: &Login) -> Result<(), WebFailure> {
    if same(&sha256(binding.as_bytes()), &login.browser_hash) {
        Ok(())
    } else {
        Err(WebFailure::OtherBrowser)
    }
}

/// Apple's authorization, or why there is none.
fn authorized(callback: Callback) -> Result<Authorization, WebFailure> {
    match callback {
        Callback::Authorized(authorization) => Ok(authorization),
        Callback::Denied(denial) => Err(WebFailure::Denied(denial.error)),
        _ => Err(WebFailure::Unexpected),
    }
}

/// The Services ID the attempt began with.
pub(crate) fn client_of<'a>(app: &'a AppState, login: &Login) -> Result<&'a WebClient, WebFailure> {
    match &login.client_id {
        None => Ok(app.primary_web()),
        // A Services ID removed from the configuration since the attempt began.
        Some(id) => app.web_client(id).ok_or(WebFailure::UnknownState),
    }
}

/// The redirect URI the code is exchanged with: the one the attempt named
/// (a popup page given to `AppleID.auth.init`), else the client's callback.
pub(crate) fn exchange_redirect_uri(
    client: &WebClient,
    login: &Login,
) -> Result<RedirectUri, WebFailure> {
    match &login.redirect_uri {
        None => Ok(client.redirect_uri.clone()),
        Some(uri) => RedirectUri::new(uri.clone()).map_err(|_| WebFailure::UnknownState),
    }
}

/// The identity token, verified for the attempt's Services ID with its nonce.
pub(crate) async fn verify_identity(
    app: &AppState,
    id_token: &str,
    login: &Login,
    client_id: &str,
) -> Result<Claims, WebFailure> {
    let nonce = NoncePolicy::Exact(Nonce::new(login.nonce.clone()));
    match app.web_verifier.verify_with_nonce(id_token, &nonce).await {
        // Another Services ID's token (the verifier takes any of ours).
        Ok(claims) if claims.audience() != client_id => Err(WebFailure::WrongAudience),
        Ok(claims) => Ok(claims),
        Err(e) if e.is_unavailable() => Err(WebFailure::KeysUnavailable(e)),
        Err(e) => Err(WebFailure::TokenRejected(e)),
    }
}

/// Back to `return_to` with the web session cookie; the login cookie cleared.
fn signed_in(
    app: &AppState,
    session: &Session,
    client_id: &str,
    return_to: String,
) -> Result<Response, WebFailure> {
    let (web_token, max_age) =
        signin::web_token(app, session, client_id, app.now()).ok_or(WebFailure::Signing)?;
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, return_to)]).into_response();
    for cookie in [
        app.cookies.set_session(web_token.secret(), max_age),
        app.cookies.clear_login(),
    ] {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}
