//! The part of a sign-in that web and native share, in the order that keeps
//! what Apple sends once and writes nothing that is not proven:
//! 1. the identity token has verified (the caller's part, with its own
//!    audience and nonce rules);
//! 2. the name of the first-login `user` JSON, if one came, is kept as a
//!    pending record of the identity, so that a failed exchange cannot lose
//!    it; nothing about the account changes yet;
//! 3. the code is exchanged at Apple for the client it was issued to, and the
//!    answer's identity token must verify for that client and name the same
//!    `sub` (the proof that the caller holds the user's code);
//! 4. one transaction records it all: the identity and its user, the name
//!    where the account has none, Apple's refresh token, the spent identity
//!    token (it opens no second session) and our session.
//!
//! The email comes from the verified token only, never from `user`.

use siwa_kit::callback::User as FirstLoginUser;
use siwa_kit::claims::Claims;
use siwa_kit::client::{AuthorizationCode, ClientError, RedirectUri};
use siwa_kit::id_token::{NoncePolicy, VerifyError};

use crate::app::AppState;
use crate::crypto::{random_id, sha256};
use crate::keys::Sealed;
use crate::secrets::{AccessToken, RefreshToken, WebSessionToken};
use crate::session::{mint, new_refresh_token, SessionClaims, TokenKind};
use crate::store::{
    AppleProfile, Name, SealedAppleToken, SessionStart, SignIn, SignInOutcome, SpentIdentityToken,
    StoreError, User,
};

/// Why a verified sign-in could not be completed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompleteError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("Apple's token endpoint: {0}")]
    Apple(#[source] ClientError),
    #[error("the identity token of Apple's token response does not verify: {0}")]
    ExchangedToken(#[source] VerifyError),
    #[error("Apple's token response names another user")]
    SubjectMismatch,
    #[error("this identity token already completed a sign-in")]
    TokenAlreadySpent,
    #[error("no Apple client for {0}")]
    UnknownClient(String),
    #[error("cannot seal Apple's token or sign ours")]
    Signing,
}

/// A sign-in whose identity token has verified.
pub(crate) struct Attempt<'a> {
    pub(crate) claims: &'a Claims,
    /// The compact identity token (remembered, hashed, once it completes a sign-in).
    pub(crate) identity_token: &'a str,
    /// The first-login `user` JSON that came with it (unsigned).
    pub(crate) user: Option<&'a FirstLoginUser>,
    pub(crate) code: &'a AuthorizationCode,
    /// The client the code was issued to (the token's audience).
    pub(crate) client_id: &'a str,
    /// The redirect URI of the authorization request, when there was one (web).
    pub(crate) redirect_uri: Option<&'a RedirectUri>,
}

/// A completed sign-in: the user and a new session.
pub(crate) struct Session {
    pub(crate) user: User,
    pub(crate) family_id: String,
    /// When the session began (its absolute lifetime counts from here).
    pub(crate) created_at: i64,
    pub(crate) refresh_token: RefreshToken,
    pub(crate) access_token: AccessToken,
}

/// Completes a verified sign-in (see the module docs).
pub(crate) async fn complete(
    app: &AppState,
    attempt: &Attempt<'_>,
) -> Result<Session, CompleteError> {
    let claims = attempt.claims;
    let team_id = app.settings.team_id.as_str();
    let token_hash = sha256(attempt.identity_token.as_bytes());
    // A replayed token is refused before it costs a call to Apple (the
    // transaction below is what guarantees it).
    if app
        .store
        .identity_token_spent(&token_hash, app.now())
        .await?
    {
        return Err(CompleteError::TokenAlreadySpent);
    }
    let name = attempt.user.map(|user| Name {
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
    });
    if let Some(name) = name
        .as_ref()
        .filter(|n| n.first_name.is_some() || n.last_name.is_some())
    {
        app.store
            .keep_pending_name(team_id, claims.sub(), name, app.now())
            .await?;
    }

    let apple = app
        .apple_for(attempt.client_id)
        .ok_or_else(|| CompleteError::UnknownClient(attempt.client_id.to_owned()))?;
    let tokens = apple
        .exchange_code(attempt.code, attempt.redirect_uri)
        .await
        .map_err(CompleteError::Apple)?;
    let exchanged = app
        .verifier_for(attempt.client_id)
        .verify_with_nonce(tokens.id_token.secret(), &NoncePolicy::Unchecked)
        .await
        .map_err(CompleteError::ExchangedToken)?;
    if exchanged.sub() != claims.sub() || exchanged.audience() != attempt.client_id {
        return Err(CompleteError::SubjectMismatch);
    }

    let now = app.now();
    let apple_token = match &tokens.refresh_token {
        Some(refresh) => Some(SealedAppleToken {
            client_id: attempt.client_id.to_owned(),
            ciphertext: app
                .keys
                .seal(
                    refresh.secret(),
                    &Sealed::AppleToken {
                        team_id,
                        sub: claims.sub(),
                        client_id: attempt.client_id,
                    },
                )
                .ok_or(CompleteError::Signing)?,
        }),
        None => None,
    };
    let family_id = random_id();
    let (refresh_token, refresh_hash) = new_refresh_token();
    let sign_in = SignIn {
        profile: AppleProfile {
            team_id: team_id.to_owned(),
            sub: claims.sub().to_owned(),
            client_id: attempt.client_id.to_owned(),
            email: claims.email().map(str::to_owned),
            email_verified: claims.email_verified().unwrap_or(false),
            is_private_email: claims.is_private_email().unwrap_or(false),
            real_user_status: claims.real_user_status().map(|s| i64::from(s.code())),
            transfer_sub: claims.transfer_sub().map(str::to_owned),
            first_name: name.as_ref().and_then(|n| n.first_name.clone()),
            last_name: name.as_ref().and_then(|n| n.last_name.clone()),
        },
        now,
        link_by_email: app.settings.link_by_email,
        apple_token,
        identity_token: Some(SpentIdentityToken {
            hash: token_hash,
            expires_at: i64::try_from(claims.expires_at().secs()).unwrap_or(i64::MAX),
        }),
        session: Some(SessionStart {
            family_id: family_id.clone(),
            client_id: attempt.client_id.to_owned(),
            token_hash: refresh_hash,
            created_at: now,
            expires_at: now.saturating_add(ttl(app.settings.session_ttl)),
        }),
    };
    let user = match app.store.complete_sign_in(&sign_in).await? {
        SignInOutcome::SignedIn(user) => user,
        SignInOutcome::TokenAlreadySpent => return Err(CompleteError::TokenAlreadySpent),
    };
    let access_token = access_token(app, &user.id, &family_id, attempt.client_id, now)
        .ok_or(CompleteError::Signing)?;
    Ok(Session {
        user,
        family_id,
        created_at: now,
        refresh_token,
        access_token,
    })
}

/// A bearer access token for a session (RFC 9068).
pub(crate) fn access_token(
    app: &AppState,
    user_id: &str,
    family_id: &str,
    client_id: &str,
    now: i64,
) -> Option<AccessToken> {
    let exp = now.saturating_add(ttl(app.settings.access_token_ttl));
    mint(
        &app.keys,
        TokenKind::Access,
        &claims(app, user_id, family_id, client_id, now, exp),
    )
    .map(AccessToken::new)
}

/// The web session cookie's token for a session begun at `created_at`: it
/// lives as long as a refresh token would, and never past the session's
/// absolute lifetime.
pub(crate) fn web_token(
    app: &AppState,
    session: &Session,
    client_id: &str,
    now: i64,
) -> Option<(WebSessionToken, i64)> {
    let limit = session
        .created_at
        .saturating_add(ttl(app.settings.session_max_age));
    let exp = now.saturating_add(ttl(app.settings.session_ttl)).min(limit);
    let token = mint(
        &app.keys,
        TokenKind::WebSession,
        &claims(
            app,
            &session.user.id,
            &session.family_id,
            client_id,
            now,
            exp,
        ),
    )?;
    Some((WebSessionToken::new(token), exp - now))
}

fn claims(
    app: &AppState,
    user_id: &str,
    family_id: &str,
    client_id: &str,
    now: i64,
    exp: i64,
) -> SessionClaims {
    SessionClaims {
        iss: app.settings.public_url.clone(),
        sub: user_id.to_owned(),
        aud: app.settings.token_audience.clone(),
        client_id: client_id.to_owned(),
        sid: family_id.to_owned(),
        jti: random_id(),
        iat: now,
        exp,
    }
}

pub(crate) fn ttl(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 2)
}
