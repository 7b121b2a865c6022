//! `POST /auth/apple/notifications`: Apple's server-to-server events.
//!
//! Verified (signature, issuer, audience = our client ids, expiry), then
//! applied once: the event's `jti` is recorded in the same transaction as its
//! effect, so a repeated event changes nothing more, and an effect that
//! failed (answered 500) is applied by Apple's retry.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use siwa_kit::notification::EventKind;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::metrics::Metrics;
use crate::store::{Notification, NotificationEffect, NotificationSource};

/// What Apple posts (the body is read as bytes and verified by siwa-kit;
/// this type only describes it).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NotificationBody {
    /// A JWS signed by Apple: `{"iss","aud","iat","jti","events"}`.
    payload: String,
}

/// Applies one notification.
#[utoipa::path(
    post,
    path = "/auth/apple/notifications",
    tag = "apple",
    summary = "Apple's server-to-server notifications",
    description = "Register `<public_url>/auth/apple/notifications` as the Services ID's server-to-server notification endpoint. Each event is verified, then applied exactly once.",
    request_body = NotificationBody,
    responses(
        (status = 200, description = "Applied (or already applied)"),
        (status = 400, description = "The notification was rejected", body = ErrorBody),
    )
)]
pub(crate) async fn receive(
    State(app): State<Arc<AppState>>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let notification = app
        .notification_verifier
        .verify_notification_body(&body)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "notification rejected");
            ApiError::bad_request("invalid_notification", "the notification was rejected")
        })?;
    let event = notification.event();
    let effect = match event.kind() {
        EventKind::EmailDisabled => NotificationEffect::EmailForwarding {
            email: event.email().map(str::to_owned),
            enabled: false,
        },
        EventKind::EmailEnabled => NotificationEffect::EmailForwarding {
            email: event.email().map(str::to_owned),
            enabled: true,
        },
        EventKind::ConsentRevoked => NotificationEffect::ConsentRevoked,
        EventKind::AccountDelete => NotificationEffect::AccountDelete,
        other => {
            tracing::info!(kind = other.as_str(), "notification type not handled");
            NotificationEffect::Nothing
        }
    };
    let applied = app
        .store
        .apply_notification(&Notification {
            jti: notification.jti().to_owned(),
            expires_at: i64::try_from(notification.expires_at().secs()).unwrap_or(i64::MAX),
            team_id: app.settings.team_id.as_str().to_owned(),
            sub: event.sub().to_owned(),
            effect,
            now: app.now(),
            source: NotificationSource::Apple,
        })
        .await?;
    if applied {
        Metrics::inc(&app.metrics.notifications);
        tracing::info!(kind = event.kind().as_str(), "notification applied");
    } else {
        tracing::info!(jti = notification.jti(), "notification already applied");
    }
    Ok(StatusCode::OK)
}
