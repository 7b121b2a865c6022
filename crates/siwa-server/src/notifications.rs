//! `POST /auth/apple/notifications`: Apple's server-to-server events.
//!
//! Verified (signature, issuer, audience = our client ids, expiry), then
//! applied idempotently: a repeated event (same `jti`) changes nothing more,
//! and each action is itself safe to repeat.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use siwa_kit::notification::EventKind;

use crate::app::AppState;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Applies one notification.
pub(crate) async fn receive(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let notification = app
        .app_verifier
        .verify_notification_body(&body)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "notification rejected");
            ApiError::bad_request("invalid_notification", e.to_string())
        })?;
    if !app
        .store
        .first_seen_event(notification.jti(), app.now())
        .await?
    {
        tracing::info!(jti = notification.jti(), "notification already applied");
        return Ok(StatusCode::OK);
    }
    let event = notification.event();
    let team = app.settings.team_id.as_str();
    let sub = event.sub();
    match event.kind() {
        EventKind::EmailDisabled => {
            app.store
                .set_email_forwarding(team, sub, event.email(), false)
                .await?
        }
        EventKind::EmailEnabled => {
            app.store
                .set_email_forwarding(team, sub, event.email(), true)
                .await?
        }
        EventKind::ConsentRevoked => app.store.revoke_apple_link(team, sub).await?,
        EventKind::AccountDelete => {
            if let Some(link) = app.store.apple_link(team, sub).await? {
                app.store.erase_user(&link.user_id).await?;
            }
        }
        other => tracing::info!(kind = other.as_str(), "notification type not handled"),
    }
    Metrics::inc(&app.metrics.notifications);
    tracing::info!(kind = event.kind().as_str(), "notification applied");
    Ok(StatusCode::OK)
}
