//! The part of a sign-in that web and native share, in the order that keeps
//! what Apple sends once: the verified identity and the first-login name are
//! written to the store first; then the code is exchanged at Apple and its
//! refresh token kept (encrypted); then our session is issued.

use siwa_kit::callback::User as FirstLoginUser;
use siwa_kit::claims::Claims;
use siwa_kit::client::{AuthorizationCode, RedirectUri};
use siwa_kit::id_token::NoncePolicy;

use crate::app::AppState;
use crate::crypto::random_id;
use crate::session::{mint, new_refresh_token, SessionClaims, TokenUse};
use crate::store::{AppleProfile, NewSession, StoreError, User};

/// Why a verified sign-in could not be completed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompleteError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("Apple's token endpoint: {0}")]
    Apple(String),
    #[error("Apple's token response names another user")]
    SubjectMismatch,
    #[error("no Apple client for {0}")]
    UnknownClient(String),
    #[error("cannot sign our token")]
    Signing,
}

/// A completed sign-in: the user and a new session.
pub(crate) struct Session {
    pub(crate) user: User,
    pub(crate) family_id: String,
    pub(crate) refresh_token: String,
    pub(crate) access_token: String,
}

/// Records the verified sign-in, exchanges the code, keeps Apple's refresh
/// token, and opens a session.
pub(crate) async fn complete(
    app: &AppState,
    claims: &Claims,
    first_login: Option<&FirstLoginUser>,
    code: &AuthorizationCode,
    client_id: &str,
    redirect_uri: Option<&RedirectUri>,
) -> Result<Session, CompleteError> {
    let now = app.now();
    let profile = AppleProfile {
        team_id: app.settings.team_id.as_str().to_owned(),
        sub: claims.sub().to_owned(),
        client_id: client_id.to_owned(),
        email: claims
            .email()
            .map(str::to_owned)
            .or_else(|| first_login.and_then(|u| u.email.clone())),
        email_verified: claims.email_verified().unwrap_or(false),
        is_private_email: claims.is_private_email().unwrap_or(false),
        real_user_status: claims.real_user_status().map(|s| i64::from(s.code())),
        first_name: first_login.and_then(|u| u.first_name.clone()),
        last_name: first_login.and_then(|u| u.last_name.clone()),
    };
    // First: Apple sends the name once, so it is stored before anything that can fail.
    let user = app
        .store
        .sign_in(&profile, now, app.settings.link_by_email)
        .await?;

    let apple = app
        .apple_for(client_id)
        .ok_or_else(|| CompleteError::UnknownClient(client_id.to_owned()))?;
    let tokens = apple
        .exchange_code(code, redirect_uri)
        .await
        .map_err(|e| CompleteError::Apple(e.to_string()))?;
    let exchanged = app
        .app_verifier
        .verify_with_nonce(tokens.id_token.secret(), &NoncePolicy::Unchecked)
        .await
        .map_err(|e| CompleteError::Apple(format!("its id_token does not verify: {e}")))?;
    if exchanged.sub() != claims.sub() {
        return Err(CompleteError::SubjectMismatch);
    }
    if let Some(refresh) = &tokens.refresh_token {
        let sealed = app
            .keys
            .seal(refresh.secret())
            .ok_or(CompleteError::Signing)?;
        app.store
            .set_apple_token(
                app.settings.team_id.as_str(),
                claims.sub(),
                client_id,
                &sealed,
            )
            .await?;
    }
    open_session(app, user, now).await
}

/// Opens a new session family for `user`.
pub(crate) async fn open_session(
    app: &AppState,
    user: User,
    now: i64,
) -> Result<Session, CompleteError> {
    let family_id = random_id();
    let (refresh_token, token_hash) = new_refresh_token();
    app.store
        .create_session(&NewSession {
            family_id: family_id.clone(),
            user_id: user.id.clone(),
            token_hash,
            created_at: now,
            expires_at: now + ttl(app.settings.session_ttl),
        })
        .await?;
    let access_token =
        access_token(app, &user.id, &family_id, now).ok_or(CompleteError::Signing)?;
    Ok(Session {
        user,
        family_id,
        refresh_token,
        access_token,
    })
}

/// A bearer access token for a session.
pub(crate) fn access_token(
    app: &AppState,
    user_id: &str,
    family_id: &str,
    now: i64,
) -> Option<String> {
    mint(
        &app.keys,
        &SessionClaims {
            iss: app.settings.public_url.clone(),
            sub: user_id.to_owned(),
            sid: family_id.to_owned(),
            iat: now,
            exp: now + ttl(app.settings.access_token_ttl),
            token_use: TokenUse::Access,
        },
    )
}

/// The web session cookie's token for a session.
pub(crate) fn web_token(
    app: &AppState,
    user_id: &str,
    family_id: &str,
    now: i64,
) -> Option<String> {
    mint(
        &app.keys,
        &SessionClaims {
            iss: app.settings.public_url.clone(),
            sub: user_id.to_owned(),
            sid: family_id.to_owned(),
            iat: now,
            exp: now + ttl(app.settings.session_ttl),
            token_use: TokenUse::Web,
        },
    )
}

pub(crate) fn ttl(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 2)
}
