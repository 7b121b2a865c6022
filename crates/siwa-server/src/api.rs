//! The JSON routes: native sign-in, our sessions, and the user.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use siwa_kit::callback::User as FirstLoginUser;
use siwa_kit::claims::Nonce;
use siwa_kit::client::AuthorizationCode;
use siwa_kit::clock::UnixTime;
use siwa_kit::id_token::NoncePolicy;

use crate::app::AppState;
use crate::cookies;
use crate::crypto::sha256;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::session::{new_refresh_token, TokenUse};
use crate::signin::{self, CompleteError, Session};
use crate::store::{Rotation, User};

/// The body of `POST /auth/apple/native`: what an iOS app got from Apple.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativeRequest {
    identity_token: String,
    authorization_code: String,
    /// `{"name":{"firstName","lastName"},"email"}`, as the app received it (first sign-in only).
    #[serde(default)]
    user: Option<Value>,
    /// The raw nonce whose SHA-256 hex the app sent to Apple.
    #[serde(default)]
    nonce: Option<String>,
}

/// `POST /auth/apple/native`.
pub(crate) async fn native(
    State(app): State<Arc<AppState>>,
    Json(request): Json<NativeRequest>,
) -> Result<Response, ApiError> {
    let result = native_inner(&app, request).await;
    if result.is_err() {
        Metrics::inc(&app.metrics.sign_in_failures);
    }
    result
}

async fn native_inner(app: &AppState, request: NativeRequest) -> Result<Response, ApiError> {
    let policy = match request.nonce.filter(|n| !n.is_empty()) {
        Some(raw) => NoncePolicy::Sha256OfRaw(Nonce::new(raw)),
        None if app.settings.require_native_nonce => {
            return Err(ApiError::bad_request(
                "nonce_required",
                "send the raw nonce whose SHA-256 the app gave Apple",
            ))
        }
        None => NoncePolicy::Unchecked,
    };
    let claims = app
        .app_verifier
        .verify_with_nonce(&request.identity_token, &policy)
        .await
        .map_err(|e| {
            if e.is_unavailable() {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "apple_unavailable",
                    "Apple's signing keys cannot be fetched right now; try again in a moment",
                );
            }
            tracing::info!(error = %e, "native identity token rejected");
            ApiError::unauthorized(format!("the identity token was rejected: {e}"))
        })?;
    let first_login = match &request.user {
        Some(value) => Some(
            FirstLoginUser::from_json(&value.to_string())
                .map_err(|e| ApiError::bad_request("invalid_user", e.to_string()))?,
        ),
        None => None,
    };
    let client_id = claims.audience().to_owned();
    let code = AuthorizationCode::new(request.authorization_code);
    let session = signin::complete(app, &claims, first_login.as_ref(), &code, &client_id, None)
        .await
        .map_err(completion_error)?;
    Metrics::inc(&app.metrics.native_sign_ins);
    tracing::info!(user = %session.user.id, "native sign-in");
    Ok(session_response(app, &session))
}

fn completion_error(e: CompleteError) -> ApiError {
    match e {
        CompleteError::Apple(cause) => ApiError::apple("code exchange", cause),
        CompleteError::SubjectMismatch => {
            ApiError::apple("code exchange", "the token response names another user")
        }
        other => ApiError::internal("sign-in", other),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// `POST /session/refresh`: rotates the refresh token; a spent one revokes its family.
pub(crate) async fn refresh(
    State(app): State<Arc<AppState>>,
    Json(request): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    let now = app.now();
    let (refresh_token, new_hash) = new_refresh_token();
    let expires_at = now + signin::ttl(app.settings.session_ttl);
    let rotation = app
        .store
        .rotate_session(
            &sha256(request.refresh_token.as_bytes()),
            &new_hash,
            now,
            expires_at,
        )
        .await?;
    let (user_id, family_id) = match rotation {
        Rotation::Rotated { user_id, family_id } => (user_id, family_id),
        Rotation::Reused { family_id } => {
            Metrics::inc(&app.metrics.refresh_reuse_detected);
            tracing::warn!(family = %family_id, "a spent refresh token came back: the session is revoked");
            return Err(ApiError::unauthorized(
                "this refresh token was already used; the session is revoked, sign in again",
            ));
        }
        Rotation::Invalid => {
            return Err(ApiError::unauthorized(
                "unknown, expired or revoked refresh token",
            ))
        }
    };
    let user = app
        .store
        .session_user(&family_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session has ended"))?;
    Metrics::inc(&app.metrics.refreshes);
    let access_token = signin::access_token(&app, &user.id, &family_id, now)
        .ok_or_else(|| ApiError::internal("refresh", "cannot sign the access token"))?;
    Ok(session_response(
        &app,
        &Session {
            user,
            family_id,
            refresh_token,
            access_token,
        },
    ))
}

/// `POST /session/logout`: ends the session of the bearer token or the cookie.
pub(crate) async fn logout(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((_, family_id)) = caller(&app, &headers) {
        app.store.end_session(&family_id).await?;
    }
    let clear = cookies::clear(cookies::SESSION, "/", app.settings.secure_cookies());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// `GET /me`.
pub(crate) async fn me(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = signed_in_user(&app, &headers).await?;
    Ok(Json(user_json(&user)))
}

/// `DELETE /me`: revokes the user's Apple tokens, then erases the account;
/// when Apple cannot be reached, the deletion is queued and retried.
pub(crate) async fn delete_me(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = signed_in_user(&app, &headers).await?;
    let links = app.store.user_links(&user.id).await?;
    let mut queued = false;
    for link in links {
        let Some(sealed) = link.token_ciphertext else {
            continue;
        };
        match crate::deletion::revoke_at_apple(&app, &link.client_id, &sealed).await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(user = %user.id, error = %e, "Apple revoke failed; deletion queued");
                app.store
                    .enqueue_deletion(&user.id, &link.client_id, &sealed, app.now())
                    .await?;
                Metrics::inc(&app.metrics.deletions_queued);
                queued = true;
            }
        }
    }
    if queued {
        app.store.end_user_sessions(&user.id).await?;
    } else {
        app.store.erase_user(&user.id).await?;
        Metrics::inc(&app.metrics.deletions_completed);
        tracing::info!(user = %user.id, "account erased");
    }
    let clear = cookies::clear(cookies::SESSION, "/", app.settings.secure_cookies());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// The user of a valid bearer token or web session cookie whose session is active.
async fn signed_in_user(app: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    let (user_id, family_id) = caller(app, headers)
        .ok_or_else(|| ApiError::unauthorized("sign in first: no valid access token or session"))?;
    app.store
        .session_user(&family_id, &user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session has ended; sign in again"))
}

/// (user id, session family) from `Authorization: Bearer` or the session cookie.
fn caller(app: &AppState, headers: &HeaderMap) -> Option<(String, String)> {
    let now = app.now();
    let issuer = &app.settings.public_url;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let claims = match bearer {
        Some(token) => {
            app.verified_tokens
                .check(&app.keys, token.trim(), issuer, TokenUse::Access, now)
        }
        None => cookies::read(headers, cookies::SESSION).and_then(|t| {
            app.verified_tokens
                .check(&app.keys, t, issuer, TokenUse::Web, now)
        }),
    }?;
    Some((claims.sub, claims.sid))
}

/// The answer of native sign-in and refresh.
fn session_response(app: &AppState, session: &Session) -> Response {
    let body = json!({
        "access_token": session.access_token,
        "refresh_token": session.refresh_token,
        "token_type": "Bearer",
        "expires_in": app.settings.access_token_ttl,
        "user": user_json(&session.user),
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// The user as the API returns it.
pub(crate) fn user_json(user: &User) -> Value {
    let iso = |t: i64| UnixTime::from_secs(u64::try_from(t).unwrap_or(0)).iso8601();
    json!({
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "is_private_email": user.is_private_email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "real_user_status": user.real_user_status,
        "created_at": iso(user.created_at),
        "last_login_at": iso(user.last_login_at),
    })
}
