use super::*;

fn sample() -> Claims {
    Claims {
        iss: "https://appleid.apple.com".into(),
        sub: "001234.abc.0001".into(),
        aud: vec!["com.example.web".into()],
        azp: None,
        exp: UnixTime::from_secs(1_700_086_400),
        iat: UnixTime::from_secs(1_700_000_000),
        auth_time: Some(UnixTime::from_secs(1_700_000_000)),
        email: Some("x@privaterelay.appleid.com".into()),
        email_verified: Some(true),
        is_private_email: Some(true),
        real_user_status: Some(RealUserStatus::LikelyReal),
        nonce: Some(Nonce::new("n0nce-secret-value")),
        nonce_supported: Some(true),
        at_hash: None,
        c_hash: Some("c".into()),
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
    claims.aud = vec!["com.example.ios".into(), "com.example.web".into()];
    claims.azp = Some("com.example.web".into());
    assert_eq!(claims.audience(), "com.example.web");
}
