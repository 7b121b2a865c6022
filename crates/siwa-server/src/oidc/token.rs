//! `POST /oauth2/token`: a code for tokens (PKCE checked; a code works once,
//! for the client and redirect URI it was issued to, within 60 seconds, and
//! its second use revokes what the first issued), and refresh tokens
//! rotated with reuse detection, as for the service's own sessions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::client_auth::authenticate;
use super::clients::Client;
use super::errors::{Code, OAuthError, OAuthErrorBody};
use super::form::Form;
use super::request::grants;
use super::settings::OidcSettings;
use super::tokens::{access_token, id_token, GrantView, Subject};
use crate::app::AppState;
use crate::crypto::{random_id, same, sha256};
use crate::refresh::{self, Refused};
use crate::secrets::RefreshToken;
use crate::session::new_refresh_token;
use crate::signin::ttl;
use crate::store::{NewSession, OidcGrant, Redemption};

/// The token endpoint's form (RFC 6749 §4.1.3, §6; RFC 7636 §4.5), as the
/// document describes it (the body is read by [`Form`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenForm {
    /// `authorization_code` or `refresh_token`.
    grant_type: String,
    /// The code (authorization_code).
    code: Option<String>,
    /// Exactly the authorization request's (authorization_code).
    redirect_uri: Option<String>,
    /// PKCE (authorization_code; required when the request sent a challenge).
    code_verifier: Option<String>,
    /// The refresh token (refresh_token).
    refresh_token: Option<String>,
    /// A narrower scope (refresh_token).
    scope: Option<String>,
    /// A public client's id, or a confidential one's with `client_secret_post`.
    client_id: Option<String>,
    /// With `client_secret_post` (else HTTP Basic).
    client_secret: Option<String>,
}

/// The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse<'a> {
    /// An RFC 9068 JWT for the client (`typ` `at+jwt`).
    access_token: &'a str,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: u64,
    /// Single use: each refresh answers with a new one.
    refresh_token: &'a str,
    /// The ID token (RS256, or ES256 for a client that registered it).
    id_token: &'a str,
    /// The granted scope.
    #[schema(example = "openid profile email")]
    scope: &'a str,
}

/// `POST /oauth2/token`.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "openid-provider",
    summary = "Tokens for a code or a refresh token",
    description = "Codes work once, for their client and redirect URI, within 60 s (PKCE checked; a second use revokes what the first issued); refresh tokens rotate, a reused one revokes its grant.",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "The tokens", body = TokenResponse),
        (status = 400, description = "An OAuth error (`invalid_request`, `invalid_grant`, ...)", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client` (`WWW-Authenticate`)", body = OAuthErrorBody),
        (status = 429, description = "Rate limited (`Retry-After`)", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn token(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(oidc) = app.settings.oidc.as_deref() else {
        return OAuthError::new(Code::InvalidRequest, "the provider is not configured")
            .into_response();
    };
    match grant(&app, oidc, &headers, &body).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(
                error = error.code.as_str(),
                why = error.description,
                "token request refused"
            );
            error.into_response()
        }
    }
}

async fn grant(
    app: &AppState,
    oidc: &OidcSettings,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let form = Form::of_request(headers, body)?;
    let client = authenticate(oidc, headers, &form)?;
    match form.get("grant_type") {
        Some("authorization_code") => redeem_code(app, oidc, client, &form).await,
        Some("refresh_token") => refresh_grant(app, oidc, client, &form).await,
        Some(_) => Err(OAuthError::new(
            Code::UnsupportedGrantType,
            "use authorization_code or refresh_token",
        )),
        None => Err(OAuthError::new(
            Code::InvalidRequest,
            "grant_type is missing",
        )),
    }
}

/// The authorization_code grant.
async fn redeem_code(
    app: &AppState,
    oidc: &OidcSettings,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    let code = form.require("code", "code is missing")?;
    let code_hash = sha256(code.as_bytes());
    let now = app.now();
    let refused = |why: &'static str| OAuthError::new(Code::InvalidGrant, why);
    let kept = app
        .store
        .oidc_code(&code_hash)
        .await
        .map_err(|e| OAuthError::store(&e))?
        .ok_or_else(|| refused("the code is unknown or expired"))?;
    if kept.used {
        // RFC 6749 §4.1.2: a second use revokes what the first issued.
        app.store
            .spoil_oidc_code(&code_hash)
            .await
            .map_err(|e| OAuthError::store(&e))?;
        tracing::warn!(client = %client.id, "an authorization code was used twice: its grant is revoked");
        return Err(refused("the code was already used"));
    }
    let issued = kept.code;
    if issued.client_id != client.id {
        return Err(refused("the code was issued to another client"));
    }
    if issued.expires_at <= now {
        return Err(refused("the code is unknown or expired"));
    }
    if form.get("redirect_uri") != Some(issued.redirect_uri.as_str()) {
        return Err(refused(
            "redirect_uri differs from the authorization request's",
        ));
    }
    check_pkce(issued.code_challenge.as_deref(), form.get("code_verifier"))?;
    let user = app
        .store
        .user(&issued.user_id)
        .await
        .map_err(|e| OAuthError::store(&e))?
        .ok_or_else(|| refused("the user no longer exists"))?;
    let family_id = random_id();
    let (refresh_token, token_hash) = new_refresh_token();
    let opened = NewSession {
        family_id: family_id.clone(),
        user_id: user.id.clone(),
        client_id: client.id.clone(),
        token_hash,
        created_at: now,
        expires_at: now.saturating_add(ttl(app.settings.session_ttl)),
        grant: Some(OidcGrant {
            client_id: client.id.clone(),
            scope: issued.scope.clone(),
            auth_time: issued.auth_time,
        }),
    };
    match app
        .store
        .redeem_oidc_code(&code_hash, now, &opened)
        .await
        .map_err(|e| OAuthError::store(&e))?
    {
        Redemption::Granted => {}
        Redemption::Refused => return Err(refused("the code was already used")),
    }
    tracing::info!(client = %client.id, user = %user.id, "code redeemed");
    let view = GrantView {
        family_id: &family_id,
        scope: &issued.scope,
        auth_time: issued.auth_time,
    };
    let subject = Subject {
        client,
        user: &user,
        grant: view,
        nonce: issued.nonce.as_deref(),
        now,
    };
    tokens(app, oidc, &subject, &refresh_token)
}

/// The refresh_token grant: the token rotates; the scope may narrow, never widen.
async fn refresh_grant(
    app: &AppState,
    oidc: &OidcSettings,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    let presented = form.require("refresh_token", "refresh_token is missing")?;
    let refused = |why: &'static str| OAuthError::new(Code::InvalidGrant, why);
    let rotated = match refresh::rotate(app, presented, Some(&client.id)).await {
        Ok(rotated) => rotated,
        Err(Refused::Reused) => {
            return Err(refused(
                "the refresh token was already used; the grant is revoked",
            ))
        }
        Err(Refused::Invalid) => {
            return Err(refused("the refresh token is unknown, expired or revoked"))
        }
        Err(Refused::Store(e)) => return Err(OAuthError::store(&e)),
        Err(Refused::Sealing) => {
            tracing::error!("cannot seal or open a refresh successor");
            return Err(OAuthError::new(
                Code::ServerError,
                "something went wrong on our side; try again",
            ));
        }
    };
    let now = app.now();
    let grant = app
        .store
        .grant(&rotated.family_id)
        .await
        .map_err(|e| OAuthError::store(&e))?
        .filter(|g| !g.revoked)
        .and_then(|g| g.oidc)
        .ok_or_else(|| refused("the grant has ended"))?;
    let scope = match form.get("scope") {
        None => grant.scope.clone(),
        Some(asked) => narrowed(&grant.scope, asked).ok_or_else(|| {
            OAuthError::new(Code::InvalidScope, "the scope exceeds what was granted")
        })?,
    };
    let user = app
        .store
        .user(&rotated.user_id)
        .await
        .map_err(|e| OAuthError::store(&e))?
        .ok_or_else(|| refused("the user no longer exists"))?;
    let view = GrantView {
        family_id: &rotated.family_id,
        scope: &scope,
        auth_time: grant.auth_time,
    };
    let subject = Subject {
        client,
        user: &user,
        grant: view,
        nonce: None,
        now,
    };
    tokens(app, oidc, &subject, &rotated.refresh_token)
}

/// The token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
fn tokens(
    app: &AppState,
    oidc: &OidcSettings,
    subject: &Subject<'_>,
    refresh_token: &RefreshToken,
) -> Result<Response, OAuthError> {
    let signing = || {
        OAuthError::new(
            Code::ServerError,
            "something went wrong on our side; try again",
        )
    };
    let grant = subject.grant;
    let access = access_token(
        app,
        oidc,
        &subject.client.id,
        &subject.user.id,
        grant,
        subject.now,
    )
    .ok_or_else(signing)?;
    let id = id_token(app, oidc, subject, &access).ok_or_else(signing)?;
    let body = TokenResponse {
        access_token: access.secret(),
        token_type: "Bearer",
        expires_in: app.settings.access_token_ttl,
        refresh_token: refresh_token.secret(),
        id_token: &id,
        scope: grant.scope,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// PKCE (RFC 7636 §4.6): a code with a challenge needs its verifier; a code
/// without one takes none (RFC 9700 §2.1.1: no downgrade).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    let refused = |why: &'static str| OAuthError::new(Code::InvalidGrant, why);
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(refused(
            "a code_verifier was sent for a code issued without PKCE",
        )),
        (Some(_), None) => Err(refused("code_verifier is missing")),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
            if well_formed && same(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(refused("code_verifier does not match the code_challenge"))
            }
        }
    }
}

/// `asked` if it is within `granted` (and still has openid).
fn narrowed(granted: &str, asked: &str) -> Option<String> {
    let words: Vec<&str> = asked.split(' ').filter(|w| !w.is_empty()).collect();
    let within = words.iter().all(|w| grants(granted, w)) && words.contains(&"openid");
    within.then(|| {
        ["openid", "profile", "email"]
            .into_iter()
            .filter(|w| words.contains(w))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_with_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_pkce(Some(challenge), Some(verifier)).is_ok());
        assert!(check_pkce(
            Some(challenge),
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK")
        )
        .is_err());
        assert!(check_pkce(Some(challenge), None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err(), "no downgrade");
        assert!(check_pkce(None, None).is_ok());
        assert!(check_pkce(Some(challenge), Some("short")).is_err());
    }

    #[test]
    fn scopes_narrow_never_widen() {
        assert_eq!(
            narrowed("openid profile email", "openid email"),
            Some("openid email".into())
        );
        assert_eq!(narrowed("openid profile", "openid email"), None);
        assert_eq!(narrowed("openid profile", "profile"), None, "openid stays");
    }
}
