use super::*;

fn owned(text: &str) -> Text {
    Text::Owned(text.into())
}

#[test]
fn text_points_into_the_raw_payload() {
    let raw = String::from(r#"{"sub":"abc"}"#);
    let span = Text::of(&raw, Cow::Borrowed(&raw[8..11]));
    assert!(matches!(span, Text::Span { start: 8, end: 11 }));
    assert_eq!(span.get(&raw), "abc");
    let elsewhere = String::from("abc");
    let copy = Text::of(&raw, Cow::Borrowed(&elsewhere));
    assert!(matches!(copy, Text::Owned(_)));
    assert_eq!(copy.get(&raw), "abc");
}

fn sample() -> Claims {
    Claims {
        iss: owned("https://appleid.apple.com"),
        sub: owned("001234.abc.0001"),
        aud: owned("com.example.web"),
        aud_more: Vec::new(),
        azp: None,
        exp: UnixTime::from_secs(1_700_086_400),
        iat: UnixTime::from_secs(1_700_000_000),
        auth_time: Some(UnixTime::from_secs(1_700_000_000)),
        email: Some(owned("x@privaterelay.appleid.com")),
        email_verified: Some(true),
        is_private_email: Some(true),
        real_user_status: Some(RealUserStatus::LikelyReal),
        nonce: Some(owned("n0nce-secret-value")),
        nonce_secret: std::sync::OnceLock::new(),
        nonce_supported: Some(true),
        at_hash: None,
        c_hash: Some(owned("c")),
        transfer_sub: None,
        raw: r#"{"nonce":"n0nce-secret-value"}"#.into(),
    }
}

#[test]
fn nonce_debug_is_redacted() {
    let nonce = Nonce::new("n0nce-secret-value");
    assert_eq!(format!("{nonce:?}"), "Nonce([redacted])");
    assert_eq!(nonce.secret(), "n0nce-secret-value");
}

#[test]
fn claims_debug_hides_the_nonce_and_raw_json() {
    let text = format!("{:?}", sample());
    assert!(!text.contains("n0nce-secret-value"), "{text}");
    assert!(text.contains("001234.abc.0001"), "{text}");
}

#[test]
fn serializes_normalised_claims() {
    let json = serde_json::to_value(sample()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "iss": "https://appleid.apple.com",
            "sub": "001234.abc.0001",
            "aud": "com.example.web",
            "exp": 1_700_086_400u64,
            "iat": 1_700_000_000u64,
            "auth_time": 1_700_000_000u64,
            "email": "x@privaterelay.appleid.com",
            "email_verified": true,
            "is_private_email": true,
            "real_user_status": 2,
            "nonce": "n0nce-secret-value",
            "nonce_supported": true,
            "c_hash": "c",
        })
    );
}

#[test]
fn real_user_status_codes() {
    for code in 0..3 {
        assert_eq!(
            u64::from(RealUserStatus::from_code(code).unwrap().code()),
            code
        );
    }
    assert_eq!(RealUserStatus::from_code(3), None);
}

#[test]
fn audience_prefers_azp() {
    let mut claims = sample();
    assert_eq!(claims.audience(), "com.example.web");
    claims.aud = owned("com.example.ios");
    claims.aud_more = vec![owned("com.example.web")];
    claims.azp = Some(owned("com.example.web"));
    assert_eq!(claims.audiences(), ["com.example.ios", "com.example.web"]);
    assert_eq!(claims.audience(), "com.example.web");
}

#[test]
fn name_keys_tell_every_name_apart() {
    use wire::name_key;
    let names: Vec<Vec<u8>> = [
        "",
        "a",
        "ab",
        "iss",
        "sub",
        "type",
        "nonce",
        "c_hash",
        "at_hash",
        "email_ve",
        "auth_time",
        "event_time",
        "transfer_sub",
        "email_verified",
        "nonce_supported",
        "is_private_email",
        "real_user_status",
        "is_private_email_",
        "real_user_status!",
    ]
    .iter()
    .map(|n| n.as_bytes().to_vec())
    .chain((0..=17).map(|len| vec![0u8; len]))
    .chain((1..=16).map(|len| {
        let mut n = b"is_private_email".to_vec();
        n[len - 1] ^= 1;
        n
    }))
    .collect();
    for a in &names {
        for b in &names {
            let same_key = name_key(a) == name_key(b);
            // Exact up to 16 bytes; all longer names share one key.
            let expected = a == b || (a.len() > 16 && b.len() > 16);
            assert_eq!(same_key, expected, "{a:?} {b:?}");
        }
    }
}

#[test]
fn slot_readings_agree_with_the_wire_readings() {
    use crate::jws::strict_object_text;
    use crate::jws::{Members, Segment};
    let values = [
        "0",
        "17",
        "1700000000",
        "18446744073709551615",
        "18446744073709551616",
        "1.5",
        "1e3",
        "-1",
        "true",
        "false",
        "null",
        "\"\"",
        "\"x\"",
        "\"true\"",
        "\"false\"",
        r#""tru\u0065""#,
        r#""a\"b""#,
        "[1]",
        "[\"a\"]",
        "{}",
        "{\"a\":1}",
    ];
    for value in values {
        let text = format!("{{\"v\":{value}}}");
        let mut members = Members::default();
        strict_object_text(&text, Segment::Payload, &mut members).unwrap();
        let member = members.iter().next().unwrap();
        let slot = wire::Slot::of(member, &text);
        let wire = || wire::Slot::of(member, &text).take();
        assert_eq!(slot.string("v"), wire().string("v"), "{value}");
        assert_eq!(slot.time("v"), wire().time("v"), "{value}");
        assert_eq!(slot.uint("v"), wire().uint("v"), "{value}");
        assert_eq!(slot.flag("v"), wire().flag("v"), "{value}");
        let required = match wire().string("v") {
            Ok(None) => Err(ClaimError::Missing { claim: "v" }),
            Ok(Some(s)) if s.is_empty() => Err(ClaimError::Empty { claim: "v" }),
            other => other.map(Option::unwrap_or_default),
        };
        assert_eq!(slot.required_string("v"), required, "{value}");
    }
    let absent = wire::Slot::default();
    assert_eq!(absent.string("v"), Ok(None));
    assert_eq!(absent.time("v"), Ok(None));
    assert_eq!(absent.flag("v"), Ok(None));
    assert_eq!(
        absent.required_time("v"),
        Err(ClaimError::Missing { claim: "v" })
    );
}
