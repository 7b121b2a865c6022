//! Rotating a refresh token: one rule for the service's own sessions
//! (`POST /session/refresh`) and the provider's grants (`POST /oauth2/token`).
//! The presented token is spent and a successor stored in one transaction; a
//! spent token that comes back revokes its family (unless it comes back
//! within `refresh_reuse_grace_secs`, when it gets the same successor); a
//! token of the other kind is refused with nothing written.

use crate::app::AppState;
use crate::crypto::sha256;
use crate::keys::Sealed;
use crate::metrics::Metrics;
use crate::secrets::RefreshToken;
use crate::session::new_refresh_token;
use crate::signin;
use crate::store::{Rotate, Rotation, StoreError, User};

/// A rotated family and the refresh token that now continues it.
#[derive(Debug)]
pub(crate) struct Rotated {
    pub(crate) user_id: String,
    pub(crate) family_id: String,
    /// The client id the family was opened through.
    pub(crate) client_id: String,
    pub(crate) refresh_token: RefreshToken,
    /// The session's user, when the store read it with the rotation.
    pub(crate) user: Option<User>,
}

/// Why a token did not rotate.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Already used: its family is revoked now.
    Reused,
    /// Unknown, expired, revoked, past its absolute lifetime, or of the other kind.
    Invalid,
    /// The store failed.
    Store(StoreError),
    /// The successor could not be sealed or opened.
    Sealing,
}

/// Rotates `presented`, which must belong to `grant_client`'s grant (or,
/// with `None`, to one of the service's own sessions).
pub(crate) async fn rotate(
    app: &AppState,
    presented: &str,
    grant_client: Option<&str>,
) -> Result<Rotated, Refused> {
    let now = app.now();
    let old_hash = sha256(presented.as_bytes());
    let spent = Sealed::Successor {
        spent_hash: &old_hash,
    };
    let (refresh_token, new_hash) = new_refresh_token();
    let grace = signin::ttl(app.settings.refresh_reuse_grace_secs);
    let successor_sealed = if grace > 0 {
        Some(
            app.keys
                .seal(refresh_token.secret(), &spent)
                .ok_or(Refused::Sealing)?,
        )
    } else {
        None
    };
    let (rotation, user) = app
        .store
        .rotate_session_with_user(&Rotate {
            old_hash: old_hash.clone(),
            new_hash,
            successor_sealed,
            now,
            expires_at: now.saturating_add(signin::ttl(app.settings.session_ttl)),
            max_age_secs: signin::ttl(app.settings.session_max_age),
            reuse_grace_secs: grace,
            grant_client: grant_client.map(str::to_owned),
        })
        .await
        .map_err(Refused::Store)?;
    match rotation {
        Rotation::Rotated {
            user_id,
            family_id,
            client_id,
            ..
        } => Ok(Rotated {
            user_id,
            family_id,
            client_id,
            refresh_token,
            user,
        }),
        Rotation::Repeated {
            user_id,
            family_id,
            client_id,
            successor_sealed,
            ..
        } => {
            let successor = app
                .keys
                .open(&successor_sealed, &spent)
                .ok_or(Refused::Sealing)?;
            tracing::info!(family = %family_id, "a refresh raced within the reuse grace: same successor");
            Ok(Rotated {
                user_id,
                family_id,
                client_id,
                refresh_token: RefreshToken::new(successor.as_str()),
                user: None,
            })
        }
        Rotation::Reused { family_id } => {
            Metrics::inc(&app.metrics.refresh_reuse_detected);
            tracing::warn!(family = %family_id, "a spent refresh token came back: its family is revoked");
            Err(Refused::Reused)
        }
        Rotation::Invalid => Err(Refused::Invalid),
    }
}
