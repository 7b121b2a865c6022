//! `GET/POST /oauth2/userinfo` (OpenID Connect Core §5.3): the user's claims
//! the access token's scope grants, while its grant is active.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use utoipa::ToSchema;

use super::form::Form;
use super::settings::OidcSettings;
use super::tokens::{user_claims, verify_access_token, AccessClaims};
use crate::app::AppState;
use crate::store::{StoreError, User};

/// The claims userinfo may answer, as the document describes them (made by
/// `tokens::user_claims`, the same for the ID token): each present only
/// when the scope grants it and the user has it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UserinfoClaims {
    /// The siwa user id.
    sub: String,
    /// scope `email`.
    email: Option<String>,
    email_verified: Option<bool>,
    is_private_email: Option<bool>,
    /// scope `profile`.
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    /// scope `email` or `profile`.
    real_user_status: Option<i64>,
}

/// `GET /oauth2/userinfo` and `POST /oauth2/userinfo`.
#[utoipa::path(
    method(get, post),
    path = "/oauth2/userinfo",
    tag = "openid-provider",
    summary = "The user's claims the access token's scope grants",
    description = "The access token in `Authorization: Bearer`, or (POST) as a form's `access_token`; never both.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims", body = UserinfoClaims),
        (status = 401, description = "No token, or not an active one (`WWW-Authenticate: Bearer`)"),
        (status = 404, description = "No `[oidc]` section: the provider is not served"),
    )
)]
pub(crate) async fn userinfo(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(token) = presented_token(&headers, &body) else {
        return challenge(None);
    };
    match user_of(&app, oidc, &token).await {
        Ok(Some((claims, user))) => {
            let mut body = user_claims(&user, &claims.scope);
            body.insert("sub".into(), user.id.into());
            let mut response = Json(Value::Object(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => challenge(Some("invalid_token")),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

/// The token of `Authorization: Bearer`, or of a form body's `access_token`
/// (RFC 6750 §2.2); never both.
fn presented_token(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let in_body = Form::of_request(headers, body)
        .ok()
        .and_then(|form| form.get("access_token").map(str::to_owned));
    match (header, in_body) {
        (Some(token), None) | (None, Some(token)) => Some(token),
        _ => None,
    }
}

/// The claims and user of a token whose grant is active.
async fn user_of(
    app: &AppState,
    oidc: &OidcSettings,
    token: &str,
) -> Result<Option<(AccessClaims, User)>, StoreError> {
    let Some(claims) = verify_access_token(app, oidc, token, app.now()) else {
        return Ok(None);
    };
    let active = app.store.grant(&claims.sid).await?.is_some_and(|grant| {
        !grant.revoked
            && grant.user_id == claims.sub
            && grant.created_at > app.sessions_created_after()
            && grant.oidc.is_some_and(|g| g.client_id == claims.client_id)
    });
    if !active {
        return Ok(None);
    }
    Ok(app
        .store
        .user(&claims.sub)
        .await?
        .map(|user| (claims, user)))
}

/// 401 with RFC 6750's challenge.
fn challenge(error: Option<&'static str>) -> Response {
    let value = match error {
        Some(error) => format!("Bearer error=\"{error}\""),
        None => "Bearer".to_owned(),
    };
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
