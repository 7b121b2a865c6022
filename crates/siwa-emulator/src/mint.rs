//! The tokens the emulator signs, with Apple's claims in Apple's order and types.

use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, RawUser};
use crate::random::{half_hash, relay_email, subject};
use crate::state::Grant;

/// Lifetime of identity tokens (Apple's tokens since 2021: one day).
pub(crate) const ID_TOKEN_TTL_SECS: u64 = 86_400;
/// Lifetime of a notification JWT.
pub(crate) const NOTIFICATION_TTL_SECS: u64 = 86_400;

/// Which hash ties the token to what it travels with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Binding<'a> {
    /// Delivered with an authorization code (authorize, native): `c_hash`.
    Code(&'a str),
    /// Delivered with an access token (/auth/token): `at_hash`.
    AccessToken(&'a str),
}

/// A claim Apple sends as the string "true"/"false" (or, since 2024, a bool).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(&'static str),
}

impl Flag {
    fn new(value: bool, boolean: bool) -> Self {
        match (boolean, value) {
            (true, v) => Self::Bool(v),
            (false, true) => Self::Text("true"),
            (false, false) => Self::Text("false"),
        }
    }
}

#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<Flag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_private_email: Option<Flag>,
    auth_time: u64,
    nonce_supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_user_status: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfer_sub: Option<String>,
}

/// The email a grant shares: the real one, or the relay when hidden.
pub(crate) fn shared_email(grant: &Grant, user: &RawUser) -> Option<(String, bool)> {
    if !grant.scope.iter().any(|s| s == "email") {
        return None;
    }
    Some(if grant.hide_email {
        (relay_email(&grant.team_id, &grant.user_id), true)
    } else {
        (user.email.clone(), false)
    })
}

/// The claims of an identity token for `grant`.
pub(crate) fn id_token_claims(
    config: &Config,
    grant: &Grant,
    user: &RawUser,
    binding: Binding<'_>,
    with_nonce: bool,
    transfer_sub: Option<String>,
    now: u64,
) -> Value {
    let email = shared_email(grant, user);
    let boolean = config.boolean_email_claims;
    let (c_hash, at_hash) = match binding {
        Binding::Code(code) => (Some(half_hash(code)), None),
        Binding::AccessToken(token) => (None, Some(half_hash(token))),
    };
    let claims = IdTokenClaims {
        iss: &config.issuer,
        aud: &grant.client_id,
        exp: now + ID_TOKEN_TTL_SECS,
        iat: now,
        sub: subject(&grant.team_id, &grant.user_id),
        nonce: grant.nonce.as_deref().filter(|_| with_nonce),
        c_hash,
        at_hash,
        email_verified: email.as_ref().map(|_| Flag::new(true, boolean)),
        is_private_email: email
            .as_ref()
            .map(|(_, private)| Flag::new(*private, boolean)),
        email: email.map(|(address, _)| address),
        auth_time: grant.auth_time,
        nonce_supported: true,
        real_user_status: grant.native.then_some(user.real_user_status),
        transfer_sub,
    };
    serde_json::to_value(claims).unwrap_or(Value::Null)
}

/// The `user` JSON Apple sends once: `{"name":{"firstName","lastName"},"email"}`.
pub(crate) fn first_login_user(grant: &Grant, user: &RawUser) -> Option<Value> {
    let mut out = serde_json::Map::new();
    if grant.scope.iter().any(|s| s == "name") {
        out.insert(
            "name".into(),
            serde_json::json!({"firstName": user.first_name, "lastName": user.last_name}),
        );
    }
    if let Some((email, _)) = shared_email(grant, user) {
        out.insert("email".into(), email.into());
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[derive(Debug, Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sub: String,
    event_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_private_email: Option<&'static str>,
}

/// The claims of a server-to-server notification; `events` is a JSON *string*.
pub(crate) fn notification_claims(
    config: &Config,
    grant: &Grant,
    user: &RawUser,
    kind: &str,
    jti: &str,
    now: u64,
) -> Value {
    let email_event = kind.starts_with("email-");
    let email = if email_event {
        let private = Grant {
            hide_email: true,
            scope: vec!["email".into()],
            ..grant.clone()
        };
        shared_email(&private, user)
    } else {
        None
    };
    let event = Event {
        kind,
        sub: subject(&grant.team_id, &grant.user_id),
        event_time: now * 1000,
        is_private_email: email.as_ref().map(|_| "true"),
        email: email.map(|(address, _)| address),
    };
    let events = serde_json::to_string(&event).unwrap_or_default();
    serde_json::json!({
        "iss": config.issuer,
        "aud": grant.client_id,
        "exp": now + NOTIFICATION_TTL_SECS,
        "iat": now,
        "jti": jti,
        "events": events,
    })
}
