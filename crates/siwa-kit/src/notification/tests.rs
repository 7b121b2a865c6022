use std::path::Path;

use serde_json::Value;

use super::*;
use crate::jws::{decode_segment, split, Segment, Wire};

#[test]
fn parses_events() {
    let event = parse_event(
        r#"{"type":"email-disabled","sub":"001.abc.1","event_time":1630085403648,"email":"x@privaterelay.appleid.com","is_private_email":"true"}"#.to_owned(),
    )
    .unwrap();
    assert_eq!(event.kind(), &EventKind::EmailDisabled);
    assert_eq!(event.event_time().secs(), 1_630_085_403);
    assert_eq!(event.is_private_email(), Some(true));
    let event =
        parse_event(r#"{"type":"something-new","sub":"s","event_time":1}"#.to_owned()).unwrap();
    assert_eq!(event.kind().as_str(), "something-new");
}

#[test]
fn rejects_bad_events() {
    for (events, claim) in [
        (r#"{"sub":"s","event_time":1}"#, "type"),
        (r#"{"type":"account-delete","event_time":1}"#, "sub"),
        (r#"{"type":"account-delete","sub":"s"}"#, "event_time"),
        (
            r#"{"type":"account-delete","sub":"s","event_time":"1"}"#,
            "event_time",
        ),
        (
            r#"{"type":"account-delete","sub":"s","sub":"t","event_time":1}"#,
            "events",
        ),
        ("not json", "events"),
    ] {
        match parse_event(events.to_owned()) {
            Err(NotificationError::Events(e)) => assert_eq!(e.claim(), claim, "{events}"),
            other => panic!("{events}: {other:?}"),
        }
    }
}

#[test]
fn reads_bodies() {
    assert_eq!(payload_of(br#"{"payload":"a.b.c"}"#).unwrap(), "a.b.c");
    assert!(payload_of(br#"{"payload":"a.b.c","payload":"d.e.f"}"#).is_err());
    assert!(payload_of(br#"{"token":"a.b.c"}"#).is_err());
    assert!(payload_of(&vec![b' '; MAX_BODY_LEN + 1]).is_err());
}

/// type, sub, email, is_private_email, event_time.
type SerdeEvent = (String, String, Option<String>, Option<bool>, u64);

/// The event as serde_json reads the `events` text, with the rules of
/// [`parse_event`]: `None` where they refuse it. The strict checker's verdict
/// stands for what serde_json cannot see (duplicates, lone surrogates).
fn serde_event(events: &str) -> Option<SerdeEvent> {
    jws::strict_json(events.as_bytes(), Segment::Payload).ok()?;
    let v: Value = serde_json::from_str(events).ok()?;
    let text = |name: &str| match v.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let email = match v.get("email") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    let flag = match v.get("is_private_email") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s == "true" => Some(true),
        Some(Value::String(s)) if s == "false" => Some(false),
        Some(_) => return None,
    };
    Some((
        text("type")?,
        text("sub")?,
        email,
        flag,
        v.get("event_time")?.as_u64()?,
    ))
}

/// `parse_event` and the serde reading agree on `events`.
fn agrees_with_serde(events: &str) -> bool {
    let expected = serde_event(events);
    match (parse_event(events.to_owned()), expected) {
        (Ok(event), Some((kind, sub, email, flag, time))) => {
            assert_eq!(
                event.kind().as_str(),
                EventKind::from_name(&kind).as_str(),
                "{events}"
            );
            assert_eq!(event.sub(), sub, "{events}");
            assert_eq!(event.email(), email.as_deref(), "{events}");
            assert_eq!(event.is_private_email(), flag, "{events}");
            assert_eq!(event.event_time_ms(), time, "{events}");
            true
        }
        (Err(NotificationError::Events(_)), None) => false,
        (got, expected) => panic!("{events}: parse_event {got:?}, serde {expected:?}"),
    }
}

/// The strings of a strict JSON object, unescaped by the flat reader and
/// by serde_json (the old path): the same.
fn strings_agree_with_serde(json: &str) {
    let mut members = Members::default();
    if jws::strict_object_str(json, &mut members).is_err() {
        return;
    }
    for member in members.iter() {
        let raw = member.value(json);
        if let Wire::Str(s) = Wire::of(member, json) {
            let old: String = serde_json::from_str(raw).expect("a string serde reads");
            assert_eq!(s, old, "{raw}");
        }
    }
}

/// The `events` texts a notification fuzz input holds: the input itself
/// (mode 1), or the `events` member of its claims (mode 2) or of the
/// payload of its body's token (mode 0).
fn events_of(data: &[u8]) -> Vec<String> {
    let Some((_, rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut found = vec![String::from_utf8_lossy(rest).into_owned()];
    let mut payloads = vec![rest.to_vec()];
    if let Ok(token) = payload_of(rest) {
        if let Ok(parts) = split(&token) {
            if let Ok(payload) = decode_segment(parts.payload(), Segment::Payload) {
                payloads.push(payload);
            }
        }
    }
    for payload in payloads {
        if let Ok(json) = std::str::from_utf8(&payload) {
            strings_agree_with_serde(json);
        }
        if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&payload) {
            if let Some(Value::String(events)) = claims.get("events") {
                found.push(events.clone());
            }
        }
    }
    found
}

#[test]
fn events_read_as_serde_reads_them_on_the_fuzz_corpus() {
    // The committed corpus of the `notification` fuzz target: missing, it fails.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/notification");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {} is unreadable: {e}", dir.display()));
    let mut inputs = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for events in events_of(&data) {
            agrees_with_serde(&events);
            inputs += 1;
        }
    }
    assert!(inputs > 0, "nothing read in {}", dir.display());
}

#[test]
fn events_one_byte_off_read_as_serde_reads_them() {
    // Apple's events with every byte replaced by one that matters to JSON,
    // or removed: the flat reader and serde agree on every one.
    let bytes = b"\"\\/ubfnrt0189aAeE.-+:,{}[] \x01\xc3\xa9";
    let (mut read, mut refused) = (0, 0);
    for base in [
        r#"{"type":"email-disabled","sub":"001.a\u0062c.1","event_time":1630085403648,"email":"x\"y@z","is_private_email":"true"}"#,
        r#"{"type":"account-delete","sub":"\ud83d\ude00\n","event_time":16,"is_private_email":false}"#,
    ] {
        for at in 0..base.len() {
            let mut variants: Vec<Vec<u8>> = bytes
                .iter()
                .map(|&b| {
                    let mut v = base.as_bytes().to_vec();
                    v[at] = b;
                    v
                })
                .collect();
            let mut removed = base.as_bytes().to_vec();
            removed.remove(at);
            variants.push(removed);
            for variant in variants {
                let Ok(events) = String::from_utf8(variant) else {
                    continue;
                };
                if agrees_with_serde(&events) {
                    read += 1;
                } else {
                    refused += 1;
                }
            }
        }
    }
    assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
}

#[test]
fn apple_events_read_as_serde_reads_them() {
    for events in [
        r#"{"type":"email-disabled","sub":"001.abc.1","event_time":1630085403648,"email":"x@privaterelay.appleid.com","is_private_email":"true"}"#,
        r#"{"type":"email-enabled","sub":"001.abc.1","event_time":1630085403648,"email":"x@privaterelay.appleid.com","is_private_email":true}"#,
        r#"{"type":"consent-revoked","sub":"001.abc.1","event_time":1630085403648}"#,
        r#"{"type":"account-delete","sub":"001.abc.1","event_time":1630085403648}"#,
        r#" { "type" : "account-delete" , "sub" : "001.\u0061bc.1" , "event_time" : 0 } "#,
        r#"{"type":"account-delete","sub":"\ud83d\ude00","event_time":1,"other":{"nested":[1]}}"#,
    ] {
        assert!(agrees_with_serde(events), "{events}");
    }
    for events in [
        r#"{"type":"account-delete","sub":"s","event_time":1.0}"#,
        r#"{"type":"account-delete","sub":"s","event_time":-1}"#,
        r#"{"type":"account-delete","sub":"","event_time":1}"#,
        r#"{"type":"account-delete","sub":"s","event_time":1,"email":null}"#,
        r#"{"type":"account-delete","sub":"s","event_time":1,"is_private_email":"yes"}"#,
        r#"{"type":"account-delete","sub":"\ud800","event_time":1}"#,
        r#"{"type":"account-delete","sub":"s","event_time":1,"sub":"t"}"#,
        r#"{"type":"account-delete","sub":"s","event_time":1}x"#,
        r#"{"type":"account-delete","sub":"s","event_time":1,}"#,
        r#"["type"]"#,
        "",
    ] {
        assert!(!agrees_with_serde(events), "{events}");
    }
}

#[test]
fn refusals_of_events_say_why() {
    for (events, message) in [
        (
            r#"{"type":"account-delete","sub":"s","event_time":1,"sub":"t"}"#,
            "names the member",
        ),
        (
            r#"{"type":"account-delete","sub":"\x","event_time":1}"#,
            "escape",
        ),
        (
            r#"{"type":"account-delete","sub":"s","event_time":true}"#,
            "event_time",
        ),
        (r#"{"type":"account-delete","event_time":1}"#, "sub"),
    ] {
        let error = parse_event(events.to_owned()).expect_err(events);
        assert!(matches!(error, NotificationError::Events(_)), "{events}");
        assert!(error.to_string().contains(message), "{events}: {error}");
    }
}
