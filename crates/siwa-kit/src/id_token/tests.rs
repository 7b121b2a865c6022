use super::*;

fn header_of(json: &str) -> Result<String, VerifyError> {
    let mut members = Members::default();
    let text = jws::strict_object(json.as_bytes(), Segment::Header, &mut members).unwrap();
    check_header(text, &members).map(Cow::into_owned)
}

#[test]
fn header_needs_rs256_and_a_kid() {
    assert_eq!(header_of(r#"{"kid":"A","alg":"RS256"}"#).unwrap(), "A");
    assert_eq!(
        header_of(r#"{"kid":"\u0041","alg":"RS256","typ":"JWT"}"#).unwrap(),
        "A"
    );
    for (json, found) in [
        (r#"{"kid":"A","alg":"none"}"#, "\"none\""),
        (r#"{"kid":"A","alg":"rs256"}"#, "\"rs256\""),
        (r#"{"kid":"A"}"#, "missing"),
        (r#"{"kid":"A","alg":null}"#, "null"),
        (r#"{"kid":"A","alg":["RS256"]}"#, "an array"),
    ] {
        match header_of(json) {
            Err(VerifyError::Algorithm { found: f }) => assert_eq!(f, found, "{json}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    for json in [
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"RS256","kid":""}"#,
        r#"{"alg":"RS256","kid":7}"#,
    ] {
        assert!(
            matches!(header_of(json), Err(VerifyError::KidMissing)),
            "{json}"
        );
    }
    assert!(matches!(
        header_of(r#"{"alg":"RS256","kid":"A","crit":["exp"]}"#),
        Err(VerifyError::ForbiddenHeader { name: "crit" })
    ));
    assert!(matches!(
        header_of(r#"{"alg":"RS256","kid":"A","b64":true}"#),
        Err(VerifyError::ForbiddenHeader { name: "b64" })
    ));
}

#[test]
fn nonce_policies() {
    let raw = Nonce::new("raw-nonce");
    // printf raw-nonce | sha256sum
    let hashed = "6ca08b1bc38e1d7e9a3e3b5b1b6a3a2dc1d0bd4ae1a5f3e1a0e38d04d8be2e0c";
    let real = {
        let d = digest(&SHA256, b"raw-nonce");
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_ne!(real, hashed);
    let sha = NoncePolicy::Sha256OfRaw(raw.clone());
    assert!(check_nonce(&sha, Some(&real)).is_ok());
    assert!(check_nonce(&sha, Some(&real.to_ascii_uppercase())).is_ok());
    assert!(matches!(
        check_nonce(&sha, Some(hashed)),
        Err(VerifyError::NonceMismatch {
            policy: "sha256-of-raw"
        })
    ));
    assert!(matches!(
        check_nonce(&sha, Some("raw-nonce")),
        Err(VerifyError::NonceMismatch { .. })
    ));
    assert!(matches!(
        check_nonce(&sha, None),
        Err(VerifyError::NonceMissing { .. })
    ));
    let exact = NoncePolicy::Exact(raw);
    assert!(check_nonce(&exact, Some("raw-nonce")).is_ok());
    assert!(matches!(
        check_nonce(&exact, Some("raw-nonce ")),
        Err(VerifyError::NonceMismatch { policy: "exact" })
    ));
    assert!(check_nonce(&NoncePolicy::Unchecked, None).is_ok());
    assert!(check_nonce(&NoncePolicy::Unchecked, Some("anything")).is_ok());
}

#[test]
fn errors_never_show_the_nonce() {
    let policy = NoncePolicy::Exact(Nonce::new("s3cret-nonce"));
    let err = check_nonce(&policy, Some("other-value")).unwrap_err();
    let text = format!("{err} {err:?} {policy:?}");
    assert!(
        !text.contains("s3cret-nonce") && !text.contains("other-value"),
        "{text}"
    );
}

#[test]
fn plain_headers_skip_the_parser_with_the_same_kid() {
    for json in [
        r#"{"kid":"W6WcOKB","alg":"RS256"}"#,
        r#"{"alg":"RS256","kid":"eXaunmL"}"#,
        r#"{"kid":"a b~!#$%&'()*+,-./:;<=>?@[]^_`{|}","alg":"RS256"}"#,
    ] {
        let fast = plain_header_kid(json.as_bytes()).expect(json);
        assert_eq!(fast, header_of(json).unwrap(), "{json}");
    }
}

#[test]
fn other_headers_go_through_the_parser() {
    for json in [
        // Anything but Apple's two members, byte for byte.
        r#"{"kid":"A","alg":"RS256","crit":["exp"]}"#,
        r#"{"kid":"A","alg":"HS256"}"#,
        r#"{"kid":"A", "alg":"RS256"}"#,
        r#"{"kid":"A","alg":"RS256"} "#,
        r#"{"kid":"","alg":"RS256"}"#,
        r#"{"alg":"RS256","kid":""}"#,
        // A kid that would need the parser: escapes, quotes, control or non-ASCII.
        r#"{"kid":"\u0041","alg":"RS256"}"#,
        r#"{"kid":"A\"","alg":"RS256"}"#,
        "{\"kid\":\"A\u{1}\",\"alg\":\"RS256\"}",
        r#"{"kid":"é","alg":"RS256"}"#,
        // A second alg smuggled inside what would be the kid.
        r#"{"kid":"A","alg":"none","kid":"B","alg":"RS256"}"#,
        r#"{"alg":"RS256","kid":"A","alg":"none","kid":"B"}"#,
    ] {
        assert_eq!(plain_header_kid(json.as_bytes()), None, "{json}");
    }
}

#[test]
fn an_aud_array_must_hold_only_strings() {
    let keys = Arc::new(KeyCache::from_json(br#"{"keys":[]}"#).unwrap());
    let verifier = Verifier::new(keys, [ClientId::new("com.example.ios").unwrap()]);
    for (aud, found) in [
        (r#"["com.example.ios",["x"]]"#, "an array holding an array"),
        (r#"["com.example.ios",7]"#, "an array holding a non-string"),
        (r#"[{"a":1}]"#, "an array holding a non-string"),
    ] {
        match verifier.check_audience(Wire::parse(aud, false), Wire::Absent) {
            Err(VerifyError::Claim(ClaimError::Type {
                claim, found: f, ..
            })) => {
                assert_eq!((claim, f), ("aud", found), "{aud}");
            }
            other => panic!("{aud}: {other:?}"),
        }
    }
    let one = verifier.check_audience(Wire::parse(r#"["com.example.ios"]"#, false), Wire::Absent);
    assert_eq!(one.unwrap().0, "com.example.ios");
}
