//! The provider's view of the browser: who is signed in to the service (its
//! web session cookie, verified, and the session still active in the store),
//! and since when (the ID token's `auth_time`).

use axum::http::HeaderMap;

use crate::app::AppState;
use crate::session::TokenKind;
use crate::store::{StoreError, User};

/// The signed-in user of a browser.
#[derive(Debug)]
pub(crate) struct BrowserSession {
    pub(crate) user: User,
    /// The session family (logout ends it).
    pub(crate) family_id: String,
    /// When the user signed in with Apple.
    pub(crate) auth_time: i64,
}

/// The browser's session, if its cookie is ours, unexpired, and the session
/// is one of the service's own, active and within its absolute lifetime.
pub(crate) async fn of(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Option<BrowserSession>, StoreError> {
    let Some(cookie) = app.cookies.session(headers) else {
        return Ok(None);
    };
    let Some(claims) =
        app.verified_tokens
            .check(&app.keys, cookie, &app.expected(TokenKind::WebSession))
    else {
        return Ok(None);
    };
    let Some(grant) = app.store.grant(&claims.sid).await? else {
        return Ok(None);
    };
    let active = !grant.revoked
        && grant.oidc.is_none()
        && grant.user_id == claims.sub
        && grant.created_at > app.sessions_created_after();
    if !active {
        return Ok(None);
    }
    Ok(app
        .store
        .user(&claims.sub)
        .await?
        .map(|user| BrowserSession {
            user,
            family_id: grant.family_id,
            auth_time: grant.created_at,
        }))
}
