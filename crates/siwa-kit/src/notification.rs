//! Apple's server-to-server notifications: `POST {"payload":"<JWT>"}` to the
//! URL registered for the app, when a user changes their email forwarding,
//! revokes consent, or deletes their Apple Account.
//!
//! The JWT is verified exactly as an identity token is (same keys, RS256
//! only, `iss`, `aud` = an accepted client id, `exp`, `iat`), then its
//! `events` claim, a JSON *string*, is parsed strictly into an [`Event`].
//!
//! ```
//! # use std::sync::Arc;
//! # use siwa_kit::{ids::ClientId, jwks::KeyCache, Verifier};
//! use siwa_kit::notification::EventKind;
//! # async fn handle(verifier: &Verifier, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let notification = verifier.verify_notification_body(body).await?;
//! let event = notification.event();
//! match event.kind() {
//!     EventKind::AccountDelete | EventKind::ConsentRevoked => { /* sign the user out, erase or detach */ }
//!     EventKind::EmailDisabled | EventKind::EmailEnabled => { /* stop or resume mail to event.email() */ }
//!     _ => { /* a type this version does not know: answer 200 all the same */ }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;

use serde::Deserialize;
use thiserror::Error;

use crate::claims::wire::{cut, name_key, NameKey, Slot, WireClaims, EMAIL, IS_PRIVATE_EMAIL, SUB};
use crate::claims::{ClaimError, Text};
use crate::clock::UnixTime;
use crate::id_token::{Verifier, VerifyError};
use crate::jwks::KeyLookupError;
use crate::jws::{self, Members, Rs256, TokenError};

/// Largest notification body accepted: a JWT of [`jws::MAX_TOKEN_LEN`] plus JSON.
pub const MAX_BODY_LEN: usize = jws::MAX_TOKEN_LEN + 1024;

/// What happened to the user's account.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// `account-delete`: the user deleted their Apple Account.
    AccountDelete,
    /// `consent-revoked`: the user stopped using Sign in with Apple with the app.
    ConsentRevoked,
    /// `email-disabled`: the user stopped forwarding the private relay email.
    EmailDisabled,
    /// `email-enabled`: the user resumed forwarding the private relay email.
    EmailEnabled,
    /// A type this version does not know (kept, so the receiver can still answer 200).
    Other(String),
}

impl EventKind {
    /// Apple's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AccountDelete => "account-delete",
            Self::ConsentRevoked => "consent-revoked",
            Self::EmailDisabled => "email-disabled",
            Self::EmailEnabled => "email-enabled",
            Self::Other(name) => name,
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "account-delete" => Self::AccountDelete,
            "consent-revoked" => Self::ConsentRevoked,
            "email-disabled" => Self::EmailDisabled,
            "email-enabled" => Self::EmailEnabled,
            other => Self::Other(cut(other)),
        }
    }
}

/// The event of a notification (its `events` claim, decoded).
///
/// Its texts are spans of the `events` JSON it keeps (one allocation, not
/// one per member); equality and `Debug` are those of the values.
#[derive(Clone)]
pub struct Event {
    /// The `events` claim, unescaped: the JSON object the spans point into.
    json: String,
    kind: EventKind,
    sub: Text,
    email: Option<Text>,
    is_private_email: Option<bool>,
    event_time_ms: u64,
}

impl Event {
    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// The user's `sub`, as in their identity tokens.
    pub fn sub(&self) -> &str {
        self.sub.get(&self.json)
    }

    /// The relay address concerned (email-disabled / email-enabled).
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref().map(|email| email.get(&self.json))
    }

    /// Whether the address is a private relay (sent as `"true"` or a boolean).
    pub fn is_private_email(&self) -> Option<bool> {
        self.is_private_email
    }

    /// When it happened, in milliseconds since the epoch (as Apple sends it).
    pub fn event_time_ms(&self) -> u64 {
        self.event_time_ms
    }

    /// When it happened, in seconds.
    pub fn event_time(&self) -> UnixTime {
        UnixTime::from_secs(self.event_time_ms / 1000)
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.sub() == other.sub()
            && self.email() == other.email()
            && self.is_private_email == other.is_private_email
            && self.event_time_ms == other.event_time_ms
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("kind", &self.kind)
            .field("sub", &self.sub())
            .field("email", &self.email())
            .field("is_private_email", &self.is_private_email)
            .field("event_time_ms", &self.event_time_ms)
            .finish()
    }
}

/// A verified server-to-server notification.
///
/// `aud` and `jti` are spans of the signed payload it keeps; equality and
/// `Debug` are those of the values.
#[derive(Clone)]
pub struct Notification {
    /// The verified payload, which `aud` and `jti` point into.
    payload: String,
    aud: Text,
    iat: UnixTime,
    exp: UnixTime,
    jti: Text,
    event: Event,
}

impl Notification {
    /// The client id (the app's primary App ID) it was sent for.
    pub fn audience(&self) -> &str {
        self.aud.get(&self.payload)
    }

    /// `iat`.
    pub fn issued_at(&self) -> UnixTime {
        self.iat
    }

    /// `exp`.
    pub fn expires_at(&self) -> UnixTime {
        self.exp
    }

    /// `jti`: unique per notification; use it to drop retries already handled.
    pub fn jti(&self) -> &str {
        self.jti.get(&self.payload)
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }
}

impl PartialEq for Notification {
    fn eq(&self, other: &Self) -> bool {
        self.audience() == other.audience()
            && self.iat == other.iat
            && self.exp == other.exp
            && self.jti() == other.jti()
            && self.event == other.event
    }
}

impl Eq for Notification {}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("aud", &self.audience())
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("jti", &self.jti())
            .field("event", &self.event)
            .finish()
    }
}

/// Why a notification was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// The body is not `{"payload":"<JWT>"}`.
    #[error("the notification body is not {{\"payload\":\"<JWT>\"}}: {reason}")]
    Body {
        /// What is wrong.
        reason: String,
    },
    /// The JWT failed verification.
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// The `events` claim is missing or not a JSON string, or one of its
    /// members is missing or of the wrong type.
    #[error("the notification's events: {0}")]
    Events(#[source] ClaimError),
}

impl NotificationError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Body { .. } => "pass the request body Apple POSTed, unchanged, or the JWT of its payload member",
            Self::Token(e) => e.hint(),
            Self::Events(_) => {
                "Apple's events claim is a JSON string holding type, sub and event_time: this notification was not made by Apple"
            }
        }
    }
}

impl From<ClaimError> for NotificationError {
    fn from(e: ClaimError) -> Self {
        Self::Token(VerifyError::Claim(e))
    }
}

impl From<TokenError<KeyLookupError>> for NotificationError {
    fn from(e: TokenError<KeyLookupError>) -> Self {
        Self::Token(VerifyError::from(e))
    }
}

impl Verifier {
    /// Verifies a notification's JWT (the `payload` member of the body).
    pub fn verify_notification<'a>(
        &'a self,
        token: &'a str,
    ) -> impl Future<Output = Result<Notification, NotificationError>> + Send + 'a {
        jws::verify_then(token, self.keys().as_ref(), Rs256, |payload, members| {
            self.notification(payload, members)
        })
    }

    /// The notification in the payload of a token whose signature verified
    /// (synchronous, so its work stays out of the caller's future).
    fn notification(
        &self,
        payload: String,
        members: &Members,
    ) -> Result<Notification, NotificationError> {
        let mut wire = WireClaims::from_object(&payload, members);
        let registered = self.check_registered(&mut wire)?;
        let events = wire
            .events
            .required_string("events")
            .map_err(NotificationError::Events)?;
        let event = parse_event(events.into_owned())?;
        let jti = Text::of(&payload, wire.jti.required_string("jti")?);
        let aud = Text::of(&payload, registered.azp.unwrap_or(registered.aud));
        let (iat, exp) = (registered.iat, registered.exp);
        // What still borrows the payload goes before the payload moves.
        drop(registered.aud_more);
        Ok(Notification {
            payload,
            aud,
            iat,
            exp,
            jti,
            event,
        })
    }

    /// Verifies a notification from the body Apple POSTed
    /// (`{"payload":"<JWT>"}`), at most [`MAX_BODY_LEN`] bytes.
    pub async fn verify_notification_body(
        &self,
        body: &[u8],
    ) -> Result<Notification, NotificationError> {
        let token = payload_of(body)?;
        self.verify_notification(&token).await
    }
}

/// The JWT of a notification body.
pub fn payload_of(body: &[u8]) -> Result<String, NotificationError> {
    #[derive(Deserialize)]
    struct Body {
        payload: String,
    }
    if body.len() > MAX_BODY_LEN {
        return Err(NotificationError::Body {
            reason: format!(
                "it is {} bytes, over the {MAX_BODY_LEN}-byte limit",
                body.len()
            ),
        });
    }
    let text = jws::strict_json_text(body).map_err(|reason| NotificationError::Body { reason })?;
    let body: Body = serde_json::from_str(text).map_err(|e| NotificationError::Body {
        reason: e.to_string(),
    })?;
    Ok(body.payload)
}

/// The members of the `events` object, typed when taken.
#[derive(Default)]
struct WireEvent<'a> {
    kind: Slot<'a>,
    sub: Slot<'a>,
    email: Slot<'a>,
    is_private_email: Slot<'a>,
    event_time: Slot<'a>,
}

impl<'a> WireEvent<'a> {
    /// The members read by their spans (the strict check found them; a
    /// repeated name was refused there), as the claims are: no serde.
    fn from_object(text: &'a str, members: &Members) -> Self {
        let mut event = Self::default();
        for member in members.iter() {
            let slot = match name_key(&member.name(text)) {
                TYPE => &mut event.kind,
                SUB => &mut event.sub,
                EMAIL => &mut event.email,
                IS_PRIVATE_EMAIL => &mut event.is_private_email,
                EVENT_TIME => &mut event.event_time,
                _ => continue,
            };
            *slot = Slot::of(member, text);
        }
        event
    }
}

const TYPE: NameKey = name_key(b"type");
const EVENT_TIME: NameKey = name_key(b"event_time");

/// The `events` claim, unescaped: checked by the strict checker (its flat
/// fast path for Apple's events), then read member by member, no serde.
fn parse_event(json: String) -> Result<Event, NotificationError> {
    let mut members = Members::default();
    jws::strict_object_str(&json, &mut members).map_err(|reason| {
        NotificationError::Events(ClaimError::Value {
            claim: "events",
            reason: format!("its JSON is {reason}"),
        })
    })?;
    let wire = WireEvent::from_object(&json, &members);
    let events = |e: ClaimError| NotificationError::Events(e);
    let kind = EventKind::from_name(&wire.kind.required_string("type").map_err(events)?);
    let sub = Text::of(&json, wire.sub.required_string("sub").map_err(events)?);
    let email = wire.email.string("email").map_err(events)?;
    let email = email.map(|email| Text::of(&json, email));
    let is_private_email = wire
        .is_private_email
        .flag("is_private_email")
        .map_err(events)?;
    let event_time_ms =
        wire.event_time
            .uint("event_time")
            .map_err(events)?
            .ok_or(NotificationError::Events(ClaimError::Missing {
                claim: "event_time",
            }))?;
    Ok(Event {
        json,
        kind,
        sub,
        email,
        is_private_email,
        event_time_ms,
    })
}

#[cfg(test)]
mod tests;
