//! The `/emulator/` routes for scripts and tests: native sign-in, signed
//! notifications, key rotation, faults, revocations.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::Fault;
use crate::keys::RsaSigner;
use crate::mint::{first_login_user, Binding};
use crate::state::Grant;
use crate::App;

/// The event types Apple sends.
const EVENT_TYPES: [&str; 4] = [
    "email-disabled",
    "email-enabled",
    "consent-revoked",
    "account-delete",
];

/// Redeliveries of one notification at most (a test asks for a few).
const MAX_NOTIFY_RETRIES: u32 = 5;

fn bad_request(reason: impl Into<String>) -> Response {
    let reason = reason.into();
    tracing::info!(reason, "emulator control request refused");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "reason": reason})),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NativeRequest {
    client_id: String,
    user: String,
    /// What the app passed to Apple as `nonce` (typically the SHA-256 hex of its raw nonce).
    #[serde(default)]
    nonce: Option<String>,
    /// `share` (default) or `hide`.
    #[serde(default)]
    consent: Option<String>,
    /// The scopes the app requested, space-separated: `name`, `email`, both
    /// (the default) or none (`""`); without `email` the token has no email.
    #[serde(default)]
    scope: Option<String>,
}

/// `POST /emulator/native`: what an iOS device gets from `ASAuthorizationAppleIDCredential`.
pub(crate) async fn native(
    State(app): State<Arc<App>>,
    Json(request): Json<NativeRequest>,
) -> Response {
    let Some((team, _)) = app.client(&request.client_id) else {
        return bad_request(format!(
            "client_id {:?} is not configured",
            request.client_id
        ));
    };
    let Some(user) = app.config.user(&request.user) else {
        return bad_request(format!("user {:?} is not configured", request.user));
    };
    let hide_email = match request.consent.as_deref() {
        None | Some("share") => false,
        Some("hide") => true,
        Some(other) => return bad_request(format!("consent {other:?} is not share or hide")),
    };
    let scope: Vec<String> = match request.scope.as_deref() {
        None => vec!["name".into(), "email".into()],
        Some(text) => text.split_whitespace().map(str::to_owned).collect(),
    };
    if let Some(other) = scope
        .iter()
        .find(|s| !matches!(s.as_str(), "name" | "email"))
    {
        return bad_request(format!("scope {other:?} is not name or email"));
    }
    let now = app.now().secs();
    let grant = Grant {
        client_id: request.client_id.clone(),
        team_id: team.id.as_str().to_owned(),
        user_id: user.id.clone(),
        scope,
        hide_email,
        nonce: request.nonce.clone(),
        auth_time: now,
        native: true,
    };
    let (code, first) = app.issue_code(&grant, None, now);
    let identity_token = match app.sign_id_token(&grant, Binding::Code(&code), true, now) {
        Ok(token) => token,
        Err(refusal) => return refusal.into_response(),
    };
    let mut out = json!({"identity_token": identity_token, "authorization_code": code});
    if first {
        if let Some(user_json) = first_login_user(&grant, user) {
            out["user"] = user_json;
        }
    }
    Json(out).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyRequest {
    client_id: String,
    user: String,
    #[serde(rename = "type")]
    kind: String,
    /// Deliveries repeated (same payload, same jti) while the receiver does not answer 2xx.
    #[serde(default)]
    retries: u32,
}

/// `POST /emulator/notify`: sends a signed event to `notification_url`.
pub(crate) async fn notify(
    State(app): State<Arc<App>>,
    Json(request): Json<NotifyRequest>,
) -> Response {
    if !EVENT_TYPES.contains(&request.kind.as_str()) {
        return bad_request(format!(
            "type {:?} is not one of {EVENT_TYPES:?}",
            request.kind
        ));
    }
    let Some((team, _)) = app.client(&request.client_id) else {
        return bad_request(format!(
            "client_id {:?} is not configured",
            request.client_id
        ));
    };
    if app.config.user(&request.user).is_none() {
        return bad_request(format!("user {:?} is not configured", request.user));
    }
    if app.config.notification_url.is_none() {
        return (
            StatusCode::CONFLICT,
            Json(json!({"error": "no notification_url configured"})),
        )
            .into_response();
    }
    let grant = Grant {
        client_id: request.client_id.clone(),
        team_id: team.id.as_str().to_owned(),
        user_id: request.user.clone(),
        scope: vec!["email".into()],
        hide_email: true,
        nonce: None,
        auth_time: 0,
        native: false,
    };
    if matches!(request.kind.as_str(), "consent-revoked" | "account-delete") {
        app.forget_authorization(&grant);
    }
    let retries = request.retries.min(MAX_NOTIFY_RETRIES);
    match app.notify(&grant, &request.kind, retries).await {
        Ok(statuses) => Json(json!({
            "status": statuses.last().copied().unwrap_or_default(),
            "attempts": statuses,
        }))
        .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))).into_response(),
    }
}

/// `POST /emulator/rotate-keys`: a new current key; the old ones stay published for a while.
pub(crate) async fn rotate_keys(State(app): State<Arc<App>>) -> Response {
    let generated = tokio::task::spawn_blocking(RsaSigner::generate).await;
    match generated {
        Ok(Ok(signer)) => {
            let kid = signer.kid.clone();
            let published = app.keys.rotate(signer);
            tracing::info!(kid, "signing key rotated");
            Json(json!({"kid": kid, "published": published})).into_response()
        }
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "key generation failed"})),
        )
            .into_response(),
    }
}

/// `POST /emulator/faults`.
pub(crate) async fn add_fault(State(app): State<Arc<App>>, Json(fault): Json<Fault>) -> Response {
    match app.faults.add(fault) {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(reason) => bad_request(reason),
    }
}

/// `GET /emulator/faults`: the faults still pending.
pub(crate) async fn list_faults(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({"faults": app.faults.list()}))
}

/// `DELETE /emulator/faults`.
pub(crate) async fn clear_faults(State(app): State<Arc<App>>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

/// `GET /emulator/revocations`.
pub(crate) async fn revocations(State(app): State<Arc<App>>) -> Json<Value> {
    let inner = app.store.lock();
    Json(json!({"revocations": inner.durable.revocations}))
}

/// `GET /emulator/stats`: requests served per route (`/auth/keys`, `/auth/token`...).
pub(crate) async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({"requests": app.stats.snapshot()}))
}
