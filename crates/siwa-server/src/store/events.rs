//! Account events for the application's webhooks, as the store records them
//! in its outbox: their types, and the body each is delivered with (the
//! Standard Webhooks shape `{"type","timestamp","data"}`, `data` holding the
//! user's `id` and, where the user still exists, the `user` as the API
//! shows it).

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Map, Value};
use siwa_kit::clock::UnixTime;

use super::{random_id, StoreResult, User, UserView};

/// The kinds of account event, with their names on the wire.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum EventType {
    /// A user's first sign-in created their account.
    UserCreated,
    /// A sign-in completed (the first one too, after `user.created`).
    UserSignedIn,
    /// A sign-in changed the user's name or email.
    UserUpdated,
    /// Apple's email-disabled or email-enabled event (private relay forwarding).
    UserEmailForwardingChanged,
    /// The user stopped using Sign in with Apple with the app: by Apple's
    /// notification, or found by the daily check. Their sessions ended.
    UserConsentRevoked,
    /// The account was erased (Apple's account-delete event, or `DELETE /me`).
    UserDeleted,
    /// A spent refresh token came back: the session family was revoked.
    SessionRevoked,
}

impl EventType {
    /// Every type, in the order the README lists them.
    pub const ALL: [EventType; 7] = [
        Self::UserCreated,
        Self::UserSignedIn,
        Self::UserUpdated,
        Self::UserEmailForwardingChanged,
        Self::UserConsentRevoked,
        Self::UserDeleted,
        Self::SessionRevoked,
    ];

    /// The name on the wire (`"user.created"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserSignedIn => "user.signed_in",
            Self::UserUpdated => "user.updated",
            Self::UserEmailForwardingChanged => "user.email_forwarding_changed",
            Self::UserConsentRevoked => "user.consent_revoked",
            Self::UserDeleted => "user.deleted",
            Self::SessionRevoked => "session.revoked",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown event type {name:?}; the types are {}",
                    known.join(", ")
                )
            })
    }
}

/// An event to record in the outbox, in the transaction of its change.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The `webhook-id`: `msg_` and 32 random hex digits, the same on every attempt.
    pub event_id: String,
    /// Its type.
    pub kind: EventType,
    /// The user it is about (events of one user are delivered in order).
    pub user_id: String,
    /// When it happened (Unix seconds).
    pub created_at: i64,
    /// The JSON body delivered.
    pub body: String,
}

impl NewEvent {
    /// An event about `user_id`, with the user as it is after the change
    /// (`None` once erased) and the type's own fields in `detail`.
    pub fn new(
        kind: EventType,
        user_id: &str,
        user: Option<&User>,
        detail: Map<String, Value>,
        now: i64,
    ) -> StoreResult<Self> {
        let mut data = Map::new();
        data.insert("id".into(), Value::from(user_id));
        if let Some(user) = user {
            data.insert("user".into(), json!(UserView::of(user)));
        }
        data.extend(detail);
        let timestamp = UnixTime::from_secs(u64::try_from(now).unwrap_or(0)).iso8601();
        let body = json!({"type": kind.as_str(), "timestamp": timestamp, "data": data});
        Ok(Self {
            event_id: format!("msg_{}", random_id()?),
            kind,
            user_id: user_id.to_owned(),
            created_at: now,
            body: body.to_string(),
        })
    }

    /// An event whose data is the user's id, and the user where they exist.
    pub fn about(
        kind: EventType,
        user_id: &str,
        user: Option<&User>,
        now: i64,
    ) -> StoreResult<Self> {
        Self::new(kind, user_id, user, Map::new(), now)
    }
}

/// Where an event is in its delivery.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum EventState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Every endpoint that takes its type answered 2xx (or none takes it).
    Delivered,
    /// Its retries ran out; `siwa webhooks retry` sends it again.
    Failed,
}

impl EventState {
    /// The state's name in the database and in `siwa webhooks list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// An event in the outbox, as the worker and `siwa webhooks list` see it.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    /// Its place in the outbox (delivery order).
    pub seq: i64,
    /// The `webhook-id`.
    pub event_id: String,
    /// Its type's name.
    pub kind: String,
    /// The user it is about.
    pub user_id: String,
    /// The JSON body.
    pub body: String,
    /// When it happened.
    pub created_at: i64,
    /// Where it is.
    pub state: EventState,
    /// Attempts so far.
    pub attempts: i64,
    /// When it is tried next (pending).
    pub next_attempt_at: i64,
    /// When it was delivered or given up.
    pub finished_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// An outbox row, in [`OUTBOX_COLUMNS`](super::outbox) order.
pub(super) type EventRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

impl From<EventRow> for OutboxEvent {
    fn from(row: EventRow) -> Self {
        let (
            seq,
            event_id,
            kind,
            user_id,
            body,
            created_at,
            state,
            attempts,
            next,
            finished,
            error,
        ) = row;
        Self {
            seq,
            event_id,
            kind,
            user_id,
            body,
            created_at,
            state: EventState::parse(&state),
            attempts,
            next_attempt_at: next,
            finished_at: finished,
            last_error: error,
        }
    }
}

/// Which events `siwa webhooks list` shows.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only events in this state.
    pub state: Option<EventState>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip_and_unknown_ones_list_the_known() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>().unwrap(), kind);
        }
        let error = "user.renamed".parse::<EventType>().unwrap_err();
        assert!(error.contains("user.created") && error.contains("session.revoked"));
    }

    #[test]
    fn the_body_has_the_standard_shape_and_the_user_where_given() {
        let user = User {
            id: "u1".into(),
            email: Some("a@example.com".into()),
            email_verified: true,
            is_private_email: false,
            email_forwarding: true,
            first_name: Some("Ada".into()),
            last_name: None,
            real_user_status: None,
            created_at: 0,
            last_login_at: 86_400,
        };
        let event = NewEvent::about(EventType::UserCreated, "u1", Some(&user), 86_400).unwrap();
        let body: Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(body["type"], "user.created");
        assert_eq!(body["timestamp"], "1970-01-02T00:00:00Z");
        assert_eq!(body["data"]["id"], "u1");
        assert_eq!(body["data"]["user"]["first_name"], "Ada");
        assert!(event.event_id.starts_with("msg_") && event.event_id.len() == 36);
        let gone = NewEvent::about(EventType::UserDeleted, "u1", None, 0).unwrap();
        let body: Value = serde_json::from_str(&gone.body).unwrap();
        assert!(body["data"].get("user").is_none());
        assert_ne!(gone.event_id, event.event_id);
    }
}
