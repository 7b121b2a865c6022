//! Sign in with Apple JS in popup mode: `POST /auth/apple/web/begin` gives
//! the page what `AppleID.auth.init` takes (a state single use and bound to
//! the browser by the login cookie, as in the redirect flow), and `POST
//! /auth/apple/web/complete` takes what `AppleID.auth.signIn` resolved to,
//! exchanges the code with exactly the redirect URI given to `init`, and
//! answers with the session: the web cookie for same-site pages, and the
//! native route's JSON for single-page apps that keep tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use siwa_kit::callback::User as FirstLoginUser;
use siwa_kit::client::AuthorizationCode;
use utoipa::ToSchema;

use super::callback::{client_of, exchange_redirect_uri, verify_identity};
use super::failure::WebFailure;
use super::{new_attempt, NewAttempt, LOGIN_TTL_SECS};
use crate::api::{session_response, SessionResponse};
use crate::app::AppState;
use crate::crypto::{same, sha256};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::metrics::Metrics;
use crate::signin::{self, Attempt};

/// `POST /auth/apple/web/begin`'s body: which Services ID and popup page (defaults: the primary, its first).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BeginRequest {
    /// A Services ID of this service (default: the primary one).
    #[serde(default)]
    client_id: Option<String>,
    /// The page that opens the popup, as it will give it to `AppleID.auth.init`;
    /// one of the client's `popup_redirect_uris` (default: its first).
    #[serde(default)]
    redirect_uri: Option<String>,
}

/// What `AppleID.auth.init` takes.
#[derive(Serialize, ToSchema)]
pub(crate) struct BeginResponse {
    /// Single use, ten minutes, bound to this browser (the login cookie set with it).
    state: String,
    /// Apple puts it in the identity token as given.
    nonce: String,
    client_id: String,
    redirect_uri: String,
    /// Space-separated (`name email`).
    scope: String,
}

/// `POST /auth/apple/web/complete`'s body: what `AppleID.auth.signIn` resolved to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteRequest {
    /// `authorization.code`.
    code: String,
    /// `authorization.id_token`.
    id_token: String,
    /// `authorization.state`.
    state: String,
    /// Apple's `user` (`{"name":{"firstName","lastName"},"email"}`), first sign-in only.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    user: Option<Value>,
}

/// `POST /auth/apple/web/begin`.
#[utoipa::path(
    post,
    path = "/auth/apple/web/begin",
    tag = "web",
    summary = "Begin a popup sign-in: what AppleID.auth.init takes",
    description = "Sets the login cookie that binds the state to this browser. Pages of other origins need to be in `allowed_web_origins` (CORS with credentials; any other origin gets a 403).",
    request_body = BeginRequest,
    responses(
        (status = 200, description = "The configuration for AppleID.auth.init", body = BeginResponse),
        (status = 400, description = "Unknown client, a redirect URI not in `popup_redirect_uris`, or popups not configured", body = ErrorBody),
        (status = 403, description = "An origin not in `allowed_web_origins`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = ErrorBody),
    )
)]
pub(crate) async fn begin(
    State(app): State<Arc<AppState>>,
    ApiJson(request): ApiJson<BeginRequest>,
) -> Result<Response, ApiError> {
    let client = match &request.client_id {
        None => app.primary_web(),
        Some(id) => app.web_client(id).ok_or_else(|| {
            ApiError::bad_request(
                "unknown_client",
                "client_id is not a Services ID of this service",
            )
        })?,
    };
    let redirect_uri = match request.redirect_uri {
        Some(uri) if client.popup_redirect_uris.contains(&uri) => uri,
        Some(_) => {
            return Err(ApiError::bad_request(
                "redirect_uri_not_allowed",
                "redirect_uri is not one of the client's popup_redirect_uris",
            ))
        }
        None => client.popup_redirect_uris.first().cloned().ok_or_else(|| {
            ApiError::bad_request(
                "popup_not_configured",
                "popup sign-in is not configured for this client: set popup_redirect_uris",
            )
        })?,
    };
    let NewAttempt {
        state,
        nonce,
        binding,
    } = new_attempt(&app, client, String::new(), Some(redirect_uri.clone())).await?;
    let scope: Vec<&str> = app.settings.scopes.iter().map(|s| s.as_str()).collect();
    let body = BeginResponse {
        state,
        nonce,
        client_id: client.client_id.as_str().to_owned(),
        redirect_uri,
        scope: scope.join(" "),
    };
    let mut response = ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&app.cookies.set_login(&binding, LOGIN_TTL_SECS)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /auth/apple/web/complete`.
#[utoipa::path(
    post,
    path = "/auth/apple/web/complete",
    tag = "web",
    summary = "Finish a popup sign-in with what AppleID.auth.signIn resolved to",
    description = "The code is exchanged with exactly the redirect URI of `begin`. Answers the session (and sets the web session cookie).",
    request_body = CompleteRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 400, description = "No login cookie, an unknown or used state, another browser's state, or a malformed `user`", body = ErrorBody),
        (status = 401, description = "The identity token does not belong to this sign-in", body = ErrorBody),
        (status = 403, description = "An origin not in `allowed_web_origins`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = ErrorBody),
        (status = 502, description = "Apple did not confirm the sign-in", body = ErrorBody),
    )
)]
pub(crate) async fn complete(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CompleteRequest>,
) -> Result<Response, ApiError> {
    let result = complete_inner(&app, &headers, request).await;
    if result.is_err() {
        Metrics::inc(&app.metrics.sign_in_failures);
    }
    result
}

async fn complete_inner(
    app: &AppState,
    headers: &HeaderMap,
    request: CompleteRequest,
) -> Result<Response, ApiError> {
    let binding = app.cookies.login(headers).ok_or_else(|| {
        ApiError::bad_request(
            "cookie_lost",
            "the sign-in must finish in the browser that began it, with cookies enabled",
        )
    })?;
    let login = app
        .store
        .take_login(&sha256(request.state.as_bytes()), app.now())
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "unknown_state",
                "the state is unknown, used or expired; begin again",
            )
        })?;
    if !same(&sha256(binding.as_bytes()), &login.browser_hash) {
        return Err(ApiError::bad_request(
            "state_mismatch",
            "this sign-in was begun in another browser; begin again",
        ));
    }
    if login.redirect_uri.is_none() {
        // A redirect-flow attempt: its answer belongs at the callback.
        return Err(ApiError::bad_request(
            "unknown_state",
            "the state is unknown, used or expired; begin again",
        ));
    }
    let first_login = match &request.user {
        Some(value) => Some(FirstLoginUser::from_json(&value.to_string()).map_err(|e| {
            tracing::info!(error = %e, "popup user JSON refused");
            ApiError::bad_request(
                "invalid_user",
                "user is not Apple's {\"name\":{\"firstName\",\"lastName\"},\"email\"}",
            )
        })?),
        None => None,
    };
    let code = AuthorizationCode::new(request.code);
    let client = client_of(app, &login).map_err(rejected)?;
    let client_id = client.client_id.as_str();
    let claims = verify_identity(app, &request.id_token, &login, client_id)
        .await
        .map_err(rejected)?;
    let redirect_uri = exchange_redirect_uri(client, &login).map_err(rejected)?;
    let session = signin::complete(
        app,
        &Attempt {
            claims: &claims,
            identity_token: &request.id_token,
            user: first_login.as_ref(),
            code: &code,
            client_id,
            redirect_uri: Some(&redirect_uri),
        },
    )
    .await
    .map_err(crate::api::completion_error)?;
    Metrics::inc(&app.metrics.web_sign_ins);
    tracing::info!(user = %session.user.id, client = client_id, "popup sign-in");
    let (web_token, max_age) = signin::web_token(app, &session, client_id, app.now())
        .ok_or_else(|| ApiError::internal("popup sign-in", "cannot sign the web session token"))?;
    let mut response = session_response(app, &session);
    for cookie in [
        app.cookies.set_session(web_token.secret(), max_age),
        app.cookies.clear_login(),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// A web-flow failure as the JSON routes answer it.
fn rejected(failure: WebFailure) -> ApiError {
    match failure {
        WebFailure::KeysUnavailable(e) => {
            tracing::warn!(error = %e, "Apple's keys are unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "apple_unavailable",
                "Apple cannot be reached right now; try again in a moment",
            )
        }
        WebFailure::TokenRejected(e) => {
            tracing::warn!(error = %e, "popup identity token rejected");
            ApiError::unauthorized("the identity token does not belong to this sign-in")
        }
        other => {
            tracing::info!(failure = ?other, "popup sign-in refused");
            ApiError::unauthorized("the identity token does not belong to this sign-in")
        }
    }
}
