//! Server-to-server notifications crafted like Apple's (the real one is in
//! apple_real.rs): every event type, and the ways one must be refused.

use serde_json::{json, Value};
use siwa_kit::claims::ClaimError;
use siwa_kit::id_token::VerifyError;
use siwa_kit::notification::{EventKind, Notification, NotificationError};

use crate::support::{block_on, claims, key_a, key_other, verifier, IOS, NOW, SUB};

fn notification_claims(events: Value) -> Value {
    json!({
        "iss": "https://appleid.apple.com",
        "aud": IOS,
        "exp": NOW + 86_300,
        "iat": NOW - 100,
        "jti": "B94OdD03pFsaYaN-Ftv7mA",
        "events": events,
    })
}

fn events(kind: &str, extra: Value) -> Value {
    let mut event = json!({"type": kind, "sub": SUB, "event_time": (NOW - 100) * 1000 + 648});
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    Value::String(event.to_string())
}

fn verify(claims: &Value) -> Result<Notification, NotificationError> {
    block_on(verifier().verify_notification(&key_a().sign(claims)))
}

#[test]
fn every_event_type_is_typed() {
    for (name, kind) in [
        ("email-disabled", EventKind::EmailDisabled),
        ("email-enabled", EventKind::EmailEnabled),
        ("consent-revoked", EventKind::ConsentRevoked),
        ("account-delete", EventKind::AccountDelete),
    ] {
        let extra = if name.starts_with("email") {
            json!({"email": "abc@privaterelay.appleid.com", "is_private_email": true})
        } else {
            json!({})
        };
        let notification = verify(&notification_claims(events(name, extra))).expect(name);
        let event = notification.event();
        assert_eq!(event.kind(), &kind);
        assert_eq!(event.kind().as_str(), name);
        assert_eq!(event.sub(), SUB);
        assert_eq!(event.event_time().secs(), NOW - 100);
        assert_eq!(event.event_time_ms(), (NOW - 100) * 1000 + 648);
        assert_eq!(notification.audience(), IOS);
        assert_eq!(notification.jti(), "B94OdD03pFsaYaN-Ftv7mA");
        if name.starts_with("email") {
            assert_eq!(event.email(), Some("abc@privaterelay.appleid.com"));
            assert_eq!(event.is_private_email(), Some(true));
        } else {
            assert_eq!(event.email(), None);
        }
    }
}

#[test]
fn unknown_event_types_are_kept() {
    let notification = verify(&notification_claims(events("account-merge", json!({})))).unwrap();
    assert_eq!(
        notification.event().kind(),
        &EventKind::Other("account-merge".into())
    );
}

#[test]
fn notification_for_another_app_is_rejected() {
    let mut claims = notification_claims(events("consent-revoked", json!({})));
    claims["aud"] = json!("com.other.app");
    assert!(matches!(
        verify(&claims),
        Err(NotificationError::Token(VerifyError::Audience { .. }))
    ));
}

#[test]
fn notification_signed_by_another_key_is_rejected() {
    let token = key_other().sign(&notification_claims(events("account-delete", json!({}))));
    assert!(matches!(
        block_on(verifier().verify_notification(&token)),
        Err(NotificationError::Token(VerifyError::Signature { .. }))
    ));
}

#[test]
fn expired_notification_is_rejected() {
    let mut claims = notification_claims(events("account-delete", json!({})));
    claims["exp"] = json!(NOW - 61);
    assert!(matches!(
        verify(&claims),
        Err(NotificationError::Token(VerifyError::Expired { .. }))
    ));
}

#[test]
fn fractional_times_are_judged_by_value() {
    // RFC 7519's NumericDate may be non-integer; serde_json writes these
    // f64s as 1699999940.5 and 1699999900.25.
    let mut claims = notification_claims(events("consent-revoked", json!({})));
    claims["exp"] = json!((NOW - 60) as f64 + 0.5);
    claims["iat"] = json!((NOW - 100) as f64 + 0.25);
    let notification = verify(&claims).expect("exp + leeway is half a second ahead");
    assert_eq!(notification.expires_at().secs(), NOW - 59);
    assert_eq!(notification.issued_at().secs(), NOW - 99);
    claims["exp"] = json!((NOW - 61) as f64 + 0.5);
    assert!(matches!(
        verify(&claims),
        Err(NotificationError::Token(VerifyError::Expired { .. }))
    ));
}

#[test]
fn events_must_be_a_json_string_of_an_event() {
    let object = json!({"type": "account-delete", "sub": SUB, "event_time": 1});
    for (events, claim) in [
        (object, "events"),
        (Value::Null, "events"),
        (
            json!("{\"type\":\"account-delete\",\"sub\":\"s\",\"sub\":\"t\",\"event_time\":1}"),
            "events",
        ),
        (
            json!("{\"type\":\"account-delete\",\"event_time\":1}"),
            "sub",
        ),
        (
            json!("{\"type\":\"account-delete\",\"sub\":\"s\",\"event_time\":\"1\"}"),
            "event_time",
        ),
        (json!("[]"), "events"),
    ] {
        match verify(&notification_claims(events.clone())) {
            Err(NotificationError::Events(e)) => assert_eq!(e.claim(), claim, "{events}"),
            other => panic!("{events}: {other:?}"),
        }
    }
    let mut without = notification_claims(Value::Null);
    without.as_object_mut().unwrap().remove("events");
    assert!(matches!(
        verify(&without),
        Err(NotificationError::Events(ClaimError::Missing {
            claim: "events"
        }))
    ));
}

#[test]
fn identity_tokens_and_notifications_are_not_interchangeable() {
    // An identity token has no events.
    let id_token = key_a().sign(&claims());
    assert!(matches!(
        block_on(verifier().verify_notification(&id_token)),
        Err(NotificationError::Events(ClaimError::Missing {
            claim: "events"
        }))
    ));
    // A notification has no sub.
    let notification = key_a().sign(&notification_claims(events("account-delete", json!({}))));
    assert!(matches!(
        block_on(verifier().verify(&notification)),
        Err(VerifyError::Claim(ClaimError::Missing { claim: "sub" }))
    ));
}

#[test]
fn bodies_must_be_apples_shape() {
    let token = key_a().sign(&notification_claims(events("consent-revoked", json!({}))));
    let body = json!({ "payload": token }).to_string();
    assert!(block_on(verifier().verify_notification_body(body.as_bytes())).is_ok());
    for bad in [
        token.clone(),
        json!({ "token": token }).to_string(),
        json!({ "payload": 1 }).to_string(),
        format!(r#"{{"payload":"{token}","payload":"{token}"}}"#),
    ] {
        assert!(
            matches!(
                block_on(verifier().verify_notification_body(bad.as_bytes())),
                Err(NotificationError::Body { .. })
            ),
            "{bad}"
        );
    }
}
