//! The JSON routes: native sign-in (and its nonces), our sessions, and the user.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use siwa_kit::callback::User as FirstLoginUser;
use siwa_kit::claims::Nonce;
use siwa_kit::client::{AppleErrorCode, AuthorizationCode};
use siwa_kit::id_token::{NoncePolicy, VerifyError};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::config::NativeNonce;
use crate::crypto::{random_token, sha256};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::metrics::Metrics;
use crate::refresh::{self, Refused, Rotated};
use crate::secrets::RefreshToken;
use crate::session::TokenKind;
use crate::signin::{self, Attempt, CompleteError, Session};
use crate::store::{User, UserView};

/// How long an issued native nonce is accepted.
const NONCE_TTL_SECS: i64 = 300;

/// The body of `POST /auth/apple/native`: what an iOS app got from Apple.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativeRequest {
    /// The identity token Apple gave the app (a JWS).
    identity_token: String,
    /// The authorization code Apple gave the app (single use, five minutes).
    authorization_code: String,
    /// `{"name":{"firstName","lastName"},"email"}`, as the app received it (first sign-in only).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    user: Option<Value>,
    /// The raw nonce whose SHA-256 hex the app sent to Apple.
    #[serde(default)]
    nonce: Option<String>,
}

/// The answer of `POST /auth/apple/nonce`.
#[derive(Serialize, ToSchema)]
pub(crate) struct NonceResponse {
    /// Hash it (SHA-256, hex) into Apple's request; send it raw to `/auth/apple/native`.
    nonce: String,
    /// Seconds it stays usable.
    #[schema(example = 300)]
    expires_in: i64,
}

/// `POST /auth/apple/nonce`: a single-use nonce for the app to hash into its
/// Apple request (required with `native_nonce = "issued"`, usable always).
#[utoipa::path(
    post,
    path = "/auth/apple/nonce",
    tag = "native",
    summary = "A single-use nonce for a native sign-in",
    responses(
        (status = 200, description = "A nonce, single use, five minutes", body = NonceResponse),
        (status = 429, description = "Rate limited (`Retry-After`)", body = ErrorBody),
    )
)]
pub(crate) async fn nonce(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let nonce = random_token();
    let now = app.now();
    app.store
        .put_nonce(&sha256(nonce.as_bytes()), now, now + NONCE_TTL_SECS)
        .await?;
    let body = NonceResponse {
        nonce,
        expires_in: NONCE_TTL_SECS,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// `POST /auth/apple/native`.
#[utoipa::path(
    post,
    path = "/auth/apple/native",
    tag = "native",
    summary = "Sign in with what Apple gave a native app",
    description = "Verifies the identity token (with the raw nonce), exchanges the code at Apple, and opens a session.",
    request_body = NativeRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 400, description = "Not the JSON this route takes, no nonce, or a malformed `user`", body = ErrorBody),
        (status = 401, description = "The identity token, nonce or code was refused", body = ErrorBody),
        (status = 404, description = "Native sign-in is not configured (no `bundle_ids`)", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = ErrorBody),
        (status = 502, description = "Apple did not confirm the sign-in", body = ErrorBody),
    )
)]
pub(crate) async fn native(
    State(app): State<Arc<AppState>>,
    ApiJson(request): ApiJson<NativeRequest>,
) -> Result<Response, ApiError> {
    let result = native_inner(&app, request).await;
    if result.is_err() {
        Metrics::inc(&app.metrics.sign_in_failures);
    }
    result
}

async fn native_inner(app: &AppState, request: NativeRequest) -> Result<Response, ApiError> {
    if app.settings.bundle_ids.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "native_not_configured",
            "native sign-in is not configured on this service (no bundle_ids)",
        ));
    }
    let raw_nonce = request.nonce.filter(|n| !n.is_empty());
    let policy = match (&raw_nonce, app.settings.native_nonce) {
        (Some(raw), _) => NoncePolicy::Sha256OfRaw(Nonce::new(raw.clone())),
        (None, NativeNonce::Optional) => NoncePolicy::Unchecked,
        (None, _) => {
            return Err(ApiError::bad_request(
                "nonce_required",
                "send the raw nonce whose SHA-256 the app gave Apple",
            ))
        }
    };
    let claims = app
        .native_verifier
        .verify_with_nonce(&request.identity_token, &policy)
        .await
        .map_err(token_rejected)?;
    if app.settings.native_nonce == NativeNonce::Issued {
        let raw = raw_nonce.as_deref().unwrap_or_default();
        if !app
            .store
            .take_nonce(&sha256(raw.as_bytes()), app.now())
            .await?
        {
            tracing::info!("native nonce not issued here, already used or expired");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_nonce",
                "the nonce was not issued by this service, was used already or has expired; get a new one",
            ));
        }
    }
    let first_login = match &request.user {
        Some(value) => Some(FirstLoginUser::from_json(&value.to_string()).map_err(|e| {
            tracing::info!(error = %e, "native user JSON refused");
            ApiError::bad_request(
                "invalid_user",
                "user is not Apple's {\"name\":{\"firstName\",\"lastName\"},\"email\"}",
            )
        })?),
        None => None,
    };
    let client_id = claims.audience().to_owned();
    let code = AuthorizationCode::new(request.authorization_code);
    let session = signin::complete(
        app,
        &Attempt {
            claims: &claims,
            identity_token: &request.identity_token,
            user: first_login.as_ref(),
            code: &code,
            client_id: &client_id,
            redirect_uri: None,
        },
    )
    .await
    .map_err(completion_error)?;
    Metrics::inc(&app.metrics.native_sign_ins);
    tracing::info!(user = %session.user.id, "native sign-in");
    Ok(session_response(app, &session))
}

/// A refused identity token: a fixed phrase for the client, the detail in the log.
fn token_rejected(e: VerifyError) -> ApiError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "Apple's keys are unavailable");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "apple_unavailable",
            "Apple's signing keys cannot be fetched right now; try again in a moment",
        );
    }
    tracing::info!(error = %e, "identity token rejected");
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the identity token was rejected",
    )
}

pub(crate) fn completion_error(e: CompleteError) -> ApiError {
    match e {
        CompleteError::Apple(cause)
            if cause.apple_code() == Some(&AppleErrorCode::InvalidGrant) =>
        {
            tracing::info!(error = %cause, "Apple refused the authorization code");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "Apple refused the authorization code (invalid, expired or used); sign in again",
            )
        }
        CompleteError::Apple(cause) => ApiError::apple("code exchange", cause),
        CompleteError::ExchangedToken(cause) => ApiError::apple("code exchange", cause),
        CompleteError::SubjectMismatch => {
            tracing::warn!("the code was issued for another user or client");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_grant",
                "the authorization code does not belong to this identity token",
            )
        }
        CompleteError::TokenAlreadySpent => {
            tracing::info!("an identity token came back after completing a sign-in");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "this identity token was already used; sign in again",
            )
        }
        CompleteError::Store(e) => e.into(),
        other => ApiError::internal("sign-in", other),
    }
}

/// The body of `POST /session/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    /// The refresh token of the last answer (each works once).
    #[schema(value_type = String)]
    refresh_token: RefreshToken,
}

/// `POST /session/refresh`: rotates the refresh token; a spent one revokes its
/// family (unless it comes back within `refresh_reuse_grace_secs`).
#[utoipa::path(
    post,
    path = "/session/refresh",
    tag = "session",
    summary = "New tokens for a refresh token (rotated)",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; keep the new refresh token", body = SessionResponse),
        (status = 400, description = "Not the JSON this route takes", body = ErrorBody),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON of the wrong shape", body = ErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = ErrorBody),
    )
)]
pub(crate) async fn refresh(
    State(app): State<Arc<AppState>>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let now = app.now();
    let Rotated {
        user_id,
        family_id,
        client_id,
        refresh_token,
        user,
    } = match refresh::rotate(&app, request.refresh_token.secret(), None).await {
        Ok(rotated) => rotated,
        Err(Refused::Reused) => {
            return Err(ApiError::unauthorized(
                "this refresh token was already used; the session is revoked, sign in again",
            ))
        }
        Err(Refused::Invalid) => {
            return Err(ApiError::unauthorized(
                "unknown, expired or revoked refresh token",
            ))
        }
        Err(Refused::Store(e)) => return Err(e.into()),
        Err(Refused::Sealing) => {
            return Err(ApiError::internal(
                "refresh",
                "cannot seal or open the successor",
            ))
        }
    };
    let user = match user {
        // Read with the rotation, in its transaction: active by construction.
        Some(user) => user,
        None => app
            .store
            .session_user(&family_id, &user_id, app.sessions_created_after())
            .await?
            .ok_or_else(|| ApiError::unauthorized("the session has ended"))?,
    };
    Metrics::inc(&app.metrics.refreshes);
    let access_token = signin::access_token(&app, &user.id, &family_id, &client_id, now)
        .ok_or_else(|| ApiError::internal("refresh", "cannot sign the access token"))?;
    Ok(session_response(
        &app,
        &Session {
            user,
            family_id,
            created_at: now,
            refresh_token,
            access_token,
        },
    ))
}

/// `POST /session/logout`: ends the session of the bearer token or the cookie.
#[utoipa::path(
    post,
    path = "/session/logout",
    tag = "session",
    summary = "End the session (bearer token or cookie)",
    description = "Always 204: a request without a valid session has nothing to end. Clears the session cookie.",
    security((), ("bearer" = []), ("session_cookie" = [])),
    responses((status = 204, description = "Signed out"))
)]
pub(crate) async fn logout(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(caller) = Caller::of(&app, &headers) {
        app.store.end_session(&caller.family_id).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, app.cookies.clear_session())],
    )
        .into_response())
}

/// `GET /me`.
#[utoipa::path(
    get,
    path = "/me",
    tag = "session",
    summary = "The signed-in user",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No valid access token or session", body = ErrorBody),
    )
)]
pub(crate) async fn me(SignedIn(user): SignedIn) -> Response {
    Json(UserView::of(&user)).into_response()
}

/// `DELETE /me`: revokes the user's Apple tokens, then erases the account;
/// when Apple cannot be reached, the deletion is queued and retried.
#[utoipa::path(
    delete,
    path = "/me",
    tag = "session",
    summary = "Delete the account",
    description = "Revokes every Apple token of the user, then erases the account; while Apple cannot be reached the deletion is queued and retried.",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted (or queued); the session cookie is cleared"),
        (status = 401, description = "No valid access token or session", body = ErrorBody),
    )
)]
pub(crate) async fn delete_me(
    State(app): State<Arc<AppState>>,
    SignedIn(user): SignedIn,
) -> Result<Response, ApiError> {
    crate::deletion::delete_account(&app, &user.id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, app.cookies.clear_session())],
    )
        .into_response())
}

/// The user of a valid bearer token or web session cookie whose session is active.
pub(crate) struct SignedIn(pub(crate) User);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::of(app, &parts.headers).ok_or_else(|| {
            ApiError::unauthorized("sign in first: no valid access token or session")
        })?;
        app.store
            .session_user(
                &caller.family_id,
                &caller.user_id,
                app.sessions_created_after(),
            )
            .await?
            .map(Self)
            .ok_or_else(|| ApiError::unauthorized("the session has ended; sign in again"))
    }
}

/// Who a request's token names: the user and session family, signature and
/// claims checked (the session's state is the store's to say).
struct Caller {
    user_id: String,
    family_id: String,
}

impl Caller {
    /// From `Authorization: Bearer` (an access token) or the session cookie.
    fn of(app: &AppState, headers: &HeaderMap) -> Option<Self> {
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
                    .check(&app.keys, token.trim(), &app.expected(TokenKind::Access))
            }
            None => app.cookies.session(headers).and_then(|token| {
                app.verified_tokens
                    .check(&app.keys, token, &app.expected(TokenKind::WebSession))
            }),
        }?;
        Some(Self {
            user_id: claims.sub,
            family_id: claims.sid,
        })
    }
}

/// The answer of native sign-in and refresh: the service's own tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionResponse<'a> {
    /// An ES256 JWT (see `/.well-known/jwks.json`); send it as `Authorization: Bearer`.
    access_token: &'a str,
    /// Single use: each refresh answers with a new one.
    refresh_token: &'a str,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
    user: UserView<'a>,
}

/// The answer of native sign-in and refresh.
pub(crate) fn session_response(app: &AppState, session: &Session) -> Response {
    let body = SessionResponse {
        access_token: session.access_token.secret(),
        refresh_token: session.refresh_token.secret(),
        token_type: "Bearer",
        expires_in: app.settings.access_token_ttl,
        user: UserView::of(&session.user),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
