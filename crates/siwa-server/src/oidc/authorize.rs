//! `GET /oauth2/authorize` and `GET /oauth2/authorize/resume`: the
//! authorization code flow. A browser with a session gets a code at once; a
//! browser without one (or asked to sign in again by `prompt=login` or
//! `max_age`) goes through Sign in with Apple first, and comes back to
//! `/oauth2/authorize/resume` with its request sealed in the URL (so that
//! nothing is written before Apple vouches for the user), where the code is
//! issued if the new session is fresh enough.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::errors::{redirect_with, Code, OAuthError};
use super::request::{self, AuthorizationRequest, Prompt, Refusal};
use super::session::{self, BrowserSession};
use super::settings::OidcSettings;
use crate::app::AppState;
use crate::crypto::{random_token, sha256};
use crate::keys::Sealed;
use crate::pages::error_page;
use crate::store::NewOidcCode;

/// The resume route, below the public URL.
pub(crate) const RESUME_PATH: &str = "/oauth2/authorize/resume";
/// How long a code is valid (RFC 6749 §4.1.2: short; at most 10 minutes).
pub(crate) const CODE_TTL_SECS: i64 = 60;
/// How long a request may wait for its sign-in with Apple.
const PENDING_TTL_SECS: i64 = 600;

/// A request waiting for its sign-in with Apple.
#[derive(Deserialize, Serialize)]
struct Pending {
    request: AuthorizationRequest,
    /// When it arrived: a session must be at least this recent when `fresh`.
    at: i64,
    fresh: bool,
}

/// `GET /oauth2/authorize`.
#[utoipa::path(
    get,
    path = "/oauth2/authorize",
    tag = "openid-provider",
    summary = "The authorization code flow (OpenID Connect Core §3.1.2)",
    description = "A browser with a fresh enough session gets a code at once; otherwise it signs in with Apple first. Errors go back to the client's redirect URI (with `iss`, RFC 9207), or, without a valid client and redirect URI, to an error page.",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "A registered client"),
        ("redirect_uri" = String, Query, description = "Exactly one the client registered"),
        ("scope" = String, Query, description = "`openid`, with `profile` and `email` as wanted"),
        ("state" = Option<String>, Query, description = "Echoed back"),
        ("nonce" = Option<String>, Query, description = "Copied into the ID token"),
        ("code_challenge" = Option<String>, Query, description = "PKCE; required of public clients"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`"),
        ("prompt" = Option<String>, Query, description = "`none`, `login`, `consent` or `select_account`"),
        ("max_age" = Option<u64>, Query, description = "Seconds since the user's sign-in"),
        ("response_mode" = Option<String>, Query, description = "`query`"),
        ("login_hint" = Option<String>, Query, description = "Accepted and not forwarded (Apple has none)"),
    ),
    responses(
        (status = 302, description = "To Sign in with Apple (`Location`)"),
        (status = 303, description = "To the client's redirect URI with `code` or `error`, `state` and `iss` (`Location`)"),
        (status = 400, description = "No valid client or redirect URI (HTML)", body = String, content_type = "text/html"),
        (status = 404, description = "No `[oidc]` section: the provider is not served"),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn authorize(
    State(app): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let request = match request::parse(query.as_deref().unwrap_or(""), oidc) {
        Ok(request) => request,
        Err(refusal) => return refused(oidc, refusal),
    };
    let browser = match session::of(&app, &headers).await {
        Ok(browser) => browser,
        Err(e) => return unavailable(oidc, &request, &e),
    };
    let now = app.now();
    let too_old = |s: &BrowserSession| {
        request
            .max_age
            .is_some_and(|max_age| now.saturating_sub(s.auth_time) > max_age)
    };
    match (request.prompt, browser) {
        (Prompt::None, Some(s)) if !too_old(&s) => issue(&app, oidc, &request, &s).await,
        (Prompt::None, _) => OAuthError::new(Code::LoginRequired, "the user is not signed in")
            .redirect(
                &request.redirect_uri,
                request.state.as_deref(),
                &oidc.issuer,
            ),
        (Prompt::Default, Some(s)) if !too_old(&s) => issue(&app, oidc, &request, &s).await,
        (prompt, browser) => {
            let fresh = prompt == Prompt::Login || browser.is_some();
            sign_in_first(&app, oidc, request, now, fresh).await
        }
    }
}

/// `GET /oauth2/authorize/resume?request=…`: back from Sign in with Apple.
#[utoipa::path(
    get,
    path = "/oauth2/authorize/resume",
    tag = "openid-provider",
    summary = "Back from Sign in with Apple to the authorization request",
    description = "The service sends the browser here itself; the request is sealed in `request`, so nothing is written before Apple vouches for the user.",
    params(
        ("request" = String, Query, description = "The sealed authorization request"),
        ("denied" = Option<String>, Query, description = "Present when the user cancelled at Apple"),
    ),
    responses(
        (status = 303, description = "To the client's redirect URI with `code` or `error` (`Location`)"),
        (status = 400, description = "Expired, altered, or no longer registered (HTML)", body = String, content_type = "text/html"),
        (status = 404, description = "No `[oidc]` section: the provider is not served"),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn resume(
    State(app): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let query = query.unwrap_or_default();
    let mut sealed = None;
    let mut denied = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "request" => sealed = Some(value.into_owned()),
            "denied" => denied = true,
            _ => {}
        }
    }
    let now = app.now();
    let Some(pending) = sealed
        .as_deref()
        .and_then(|s| open(&app, s))
        .filter(|p| now.saturating_sub(p.at) <= PENDING_TTL_SECS && p.at <= now)
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Go back to the application and sign in again.",
        );
    };
    let request = pending.request;
    // The configuration may have changed while the user was at Apple.
    if !oidc
        .client(&request.client_id)
        .is_some_and(|c| c.allows_redirect(&request.redirect_uri))
    {
        return refused(
            oidc,
            Refusal::Page("The application of this sign-in request is not registered here."),
        );
    }
    let back = |description| {
        OAuthError::new(Code::AccessDenied, description).redirect(
            &request.redirect_uri,
            request.state.as_deref(),
            &oidc.issuer,
        )
    };
    if denied {
        return back("the user cancelled the sign-in");
    }
    let browser = match session::of(&app, &headers).await {
        Ok(browser) => browser,
        Err(e) => return unavailable(oidc, &request, &e),
    };
    match browser {
        Some(s) if pending.fresh && s.auth_time < pending.at => {
            back("the user did not sign in again")
        }
        Some(s) => issue(&app, oidc, &request, &s).await,
        None => back("the user did not sign in"),
    }
}

/// Issues a code for the browser's user and sends it to the client.
async fn issue(
    app: &AppState,
    oidc: &OidcSettings,
    request: &AuthorizationRequest,
    browser: &BrowserSession,
) -> Response {
    let code = format!("oc_{}", random_token());
    let now = app.now();
    let kept = NewOidcCode {
        code_hash: sha256(code.as_bytes()),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: browser.user.id.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: browser.auth_time,
        created_at: now,
        expires_at: now + CODE_TTL_SECS,
    };
    if let Err(e) = app.store.put_oidc_code(&kept).await {
        return unavailable(oidc, request, &e);
    }
    tracing::info!(client = %request.client_id, user = %browser.user.id, "authorization code issued");
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", &oidc.issuer));
    redirect_with(&request.redirect_uri, &pairs)
}

/// Sends the browser to Sign in with Apple, to come back to the resume route.
async fn sign_in_first(
    app: &AppState,
    oidc: &OidcSettings,
    request: AuthorizationRequest,
    now: i64,
    fresh: bool,
) -> Response {
    let pending = Pending {
        request,
        at: now,
        fresh,
    };
    let Some(sealed) = seal(app, &pending) else {
        return OAuthError::new(
            Code::ServerError,
            "something went wrong on our side; try again",
        )
        .redirect(
            &pending.request.redirect_uri,
            pending.request.state.as_deref(),
            &oidc.issuer,
        );
    };
    let return_to = format!("{}{RESUME_PATH}?request={sealed}", app.settings.public_url);
    crate::web::begin_sign_in(app, app.primary_web(), return_to).await
}

/// Whether a return address is the resume route (the web callback tells it
/// when the user cancels at Apple).
pub(crate) fn is_resume(app: &AppState, return_to: &str) -> bool {
    return_to
        .strip_prefix(app.settings.public_url.as_str())
        .is_some_and(|rest| {
            rest.starts_with(RESUME_PATH) && rest[RESUME_PATH.len()..].starts_with('?')
        })
}

/// The resume address of a sign-in the user cancelled at Apple.
pub(crate) fn cancelled(return_to: &str) -> String {
    format!("{return_to}&denied=1")
}

fn seal(app: &AppState, pending: &Pending) -> Option<String> {
    let json = serde_json::to_string(pending).ok()?;
    let sealed = app.keys.seal(&json, &Sealed::AuthorizationRequest)?;
    Some(URL_SAFE_NO_PAD.encode(sealed))
}

fn open(app: &AppState, text: &str) -> Option<Pending> {
    let sealed = URL_SAFE_NO_PAD.decode(text).ok()?;
    let json = app.keys.open(&sealed, &Sealed::AuthorizationRequest)?;
    serde_json::from_str(&json).ok()
}

fn refused(oidc: &OidcSettings, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(detail) => {
            tracing::info!(detail, "authorization request refused without a redirect");
            error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in request is not valid",
                detail,
            )
        }
        Refusal::Redirect {
            redirect_uri,
            state,
            error,
        } => error.redirect(&redirect_uri, state.as_deref(), &oidc.issuer),
    }
}

fn unavailable(
    oidc: &OidcSettings,
    request: &AuthorizationRequest,
    e: &crate::store::StoreError,
) -> Response {
    OAuthError::store(e).redirect(
        &request.redirect_uri,
        request.state.as_deref(),
        &oidc.issuer,
    )
}
