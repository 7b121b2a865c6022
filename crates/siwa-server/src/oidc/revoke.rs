//! `POST /oauth2/revoke` (RFC 7009): a client revokes one of its refresh or
//! access tokens, which ends the grant the token belongs to. A token that is
//! unknown, already revoked, or another client's is answered 200 as well,
//! with nothing done (§2.2: the answer tells nothing about the token).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;

use super::client_auth::authenticate;
use super::errors::{Code, OAuthError, OAuthErrorBody};
use super::form::Form;
use super::settings::OidcSettings;
use super::tokens::verify_access_token;
use crate::app::AppState;
use crate::crypto::sha256;

/// The revocation form (RFC 7009 §2.1), as the document describes it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RevokeForm {
    /// A refresh or access token of the client.
    token: String,
    /// `refresh_token` or `access_token` (orders the lookups only).
    token_type_hint: Option<String>,
    /// A public client's id, or a confidential one's with `client_secret_post`.
    client_id: Option<String>,
    /// With `client_secret_post` (else HTTP Basic).
    client_secret: Option<String>,
}

/// `POST /oauth2/revoke`.
#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    tag = "openid-provider",
    summary = "Revoke a token and its grant (RFC 7009)",
    description = "A token that is unknown, revoked or another client's is answered 200 as well, with nothing done.",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "An OAuth error", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client` (`WWW-Authenticate`)", body = OAuthErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return OAuthError::new(Code::InvalidRequest, "the provider is not configured")
            .into_response();
    };
    match revoke_token(&app, oidc, &headers, &body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn revoke_token(
    app: &AppState,
    oidc: &OidcSettings,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let form = Form::of_request(headers, body)?;
    let client = authenticate(oidc, headers, &form)?;
    let token = form.require("token", "token is missing")?;
    // The hint only orders the lookups (§2.1); both kinds are tried.
    let family = match app
        .store
        .grant_of_refresh_token(&sha256(token.as_bytes()))
        .await
        .map_err(|e| OAuthError::store(&e))?
    {
        Some(grant)
            if grant
                .oidc
                .as_ref()
                .is_some_and(|g| g.client_id == client.id) =>
        {
            Some(grant.family_id)
        }
        Some(_) => None,
        None => verify_access_token(app, oidc, token, app.now())
            .filter(|claims| claims.client_id == client.id)
            .map(|claims| claims.sid),
    };
    let Some(family) = family else {
        tracing::info!(client = %client.id, "revocation of a token that is not the client's: nothing done");
        return Ok(());
    };
    // An access token's sid names its grant, which may be the client's only
    // if the store says so.
    let theirs = app
        .store
        .grant(&family)
        .await
        .map_err(|e| OAuthError::store(&e))?
        .and_then(|g| g.oidc)
        .is_some_and(|g| g.client_id == client.id);
    if theirs {
        app.store
            .end_session(&family)
            .await
            .map_err(|e| OAuthError::store(&e))?;
        tracing::info!(client = %client.id, "grant revoked by its client");
    }
    Ok(())
}
