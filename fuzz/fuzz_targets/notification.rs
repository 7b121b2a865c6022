//! Apple's server-to-server notifications: the body (`siwa_kit::notification::payload_of`)
//! and its verification (`Verifier::verify_notification[_body]`) over the
//! fixed key set, at the fixed clock.
//!
//! Input: a mode byte, then
//! - mode 0: the body Apple would POST, `{"payload":"<JWT>"}`;
//! - mode 1: the `events` claim (a JSON string inside the JWT), in otherwise
//!   good claims signed with the fixture key A;
//! - mode 2: the whole claims payload, signed with key A.
//!
//! Invariants:
//! - nothing panics; the heap stays within the input-size bound;
//! - `payload_of` returns the body's `payload` member as serde_json reads
//!   it, and refuses what is not strict JSON;
//! - a body verifies only if its JWT is a known-good token;
//! - with good claims, an `events` claim is either refused as such (never
//!   another error) or typed as an independent parse reads it: type, sub,
//!   email, is_private_email (string or boolean), event_time;
//! - a notification that verifies names an accepted audience and its `jti`.
#![no_main]

use serde_json::Value;
use siwa_fuzz::fixtures::{key_a, IOS, NOW, WEB};
use siwa_fuzz::prelude::*;
use siwa_kit::id_token::VerifyError;
use siwa_kit::jws::{self, JwsError, Segment};
use siwa_kit::notification::{payload_of, Event, Notification, NotificationError};

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let mut seeds = Vec::new();
            for event in fixtures::good_events() {
                let claims = fixtures::notification_claims(&event);
                let token = key_a().sign(&claims);
                let body = serde_json::json!({ "payload": token }).to_string();
                seeds.push(framed(0, &[body.as_bytes()], 0));
                seeds.push(framed(1, &[event.to_string().as_bytes()], 0));
                seeds.push(framed(2, &[claims.to_string().as_bytes()], 0));
            }
            seeds.push(framed(0, &[br#"{"payload":"a.b.c","payload":"d.e.f"}"#], 0));
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let verifier = fixtures::verifier();
        match mode % 3 {
            0 => {
                let token = bounded("payload_of", rest.len(), bounds::TOKEN, || payload_of(rest));
                check_payload_of(rest, token.as_ref().ok());
                let result = bounded("verify_notification_body", rest.len(), bounds::TOKEN, || {
                    siwa_fuzz::block_on(verifier.verify_notification_body(rest))
                });
                if let Ok(notification) = &result {
                    let token = token.as_deref().expect("it verified");
                    assert!(fixtures::is_known_good(token), "a body that is no known-good token verified");
                    check_notification(notification, token);
                }
                check_error(result.as_ref().err());
            }
            1 => {
                let events = siwa_fuzz::text(rest);
                let mut claims = fixtures::notification_claims(&Value::Null);
                claims["events"] = Value::String(events.clone().into_owned());
                let token = key_a().sign(&claims);
                let result = bounded("verify_notification", token.len(), bounds::TOKEN, || {
                    siwa_fuzz::block_on(verifier.verify_notification(&token))
                });
                match &result {
                    Ok(notification) => {
                        check_notification(notification, &token);
                        check_event(notification.event(), &events);
                    }
                    Err(NotificationError::Events(_)) => {}
                    Err(NotificationError::Token(VerifyError::Jws(JwsError::TooLarge { .. })))
                        if token.len() > jws::MAX_TOKEN_LEN => {}
                    Err(other) => panic!("good claims refused for their events: {other:?}"),
                }
                check_error(result.as_ref().err());
            }
            _ => {
                let header = fixtures::header(key_a().kid);
                let token = key_a().sign_raw(header.as_bytes(), rest);
                let result = bounded("verify_notification", token.len(), bounds::TOKEN, || {
                    siwa_fuzz::block_on(verifier.verify_notification(&token))
                });
                if let Ok(notification) = &result {
                    check_notification(notification, &token);
                    if let Ok(v) = serde_json::from_slice::<Value>(rest) {
                        assert_eq!(v["jti"].as_str(), Some(notification.jti()));
                        check_event(notification.event(), v["events"].as_str().expect("events"));
                    }
                }
                check_error(result.as_ref().err());
            }
        }
    }
);

fn check_payload_of(body: &[u8], token: Option<&String>) {
    let strict = jws::strict_json(body, Segment::Payload).is_ok();
    let Some(token) = token else {
        return;
    };
    assert!(strict, "payload_of took a body that is not strict JSON");
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        assert_eq!(v["payload"].as_str(), Some(token.as_str()));
    }
}

fn check_notification(notification: &Notification, _token: &str) {
    assert!([WEB, IOS].contains(&notification.audience()));
    assert!(!notification.jti().is_empty());
    assert!(NOW < notification.expires_at().secs().saturating_add(60));
    let event = notification.event();
    assert!(!event.sub().is_empty());
    assert!(!event.kind().as_str().is_empty());
    assert_eq!(event.event_time().secs(), event.event_time_ms() / 1000);
}

/// The event as an independent parse of the `events` string reads it.
fn check_event(event: &Event, events: &str) {
    let Ok(v) = serde_json::from_str::<Value>(events) else {
        return;
    };
    let kind = v["type"].as_str().expect("type is a string");
    match kind {
        "account-delete" | "consent-revoked" | "email-disabled" | "email-enabled" => {
            assert_eq!(event.kind().as_str(), kind);
        }
        other => assert!(other.starts_with(event.kind().as_str().trim_end_matches("..."))),
    }
    assert_eq!(v["sub"].as_str(), Some(event.sub()));
    assert_eq!(
        v.get("email")
            .map(|e| e.as_str().expect("email is a string")),
        event.email()
    );
    let flag = v.get("is_private_email").map(|f| match f {
        Value::Bool(b) => *b,
        Value::String(s) if s == "true" => true,
        Value::String(s) if s == "false" => false,
        other => panic!("is_private_email {other} accepted"),
    });
    assert_eq!(flag, event.is_private_email());
    assert_eq!(v["event_time"].as_u64(), Some(event.event_time_ms()));
}

fn check_error(error: Option<&NotificationError>) {
    if let Some(e) = error {
        assert!(!e.hint().is_empty());
        let message = e.to_string();
        assert!(
            message.len() <= 8 * 1024,
            "an error of {} bytes",
            message.len()
        );
        if let NotificationError::Token(token) = e {
            assert!(!token.is_unavailable(), "{e}");
        }
    }
}
