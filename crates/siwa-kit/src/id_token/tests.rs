use super::*;
use crate::jws::{Members, Segment};

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
    // Hex digits of either case, mixed too; nothing else, at no other length.
    let mixed: String = real
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 3 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    assert!(check_nonce(&sha, Some(&mixed)).is_ok());
    let not_hex = |at: usize, with: char| {
        let mut s = real.clone();
        s.replace_range(at..at + 1, &with.to_string());
        s
    };
    for wrong in [
        real[..63].to_owned(),
        format!("{real}0"),
        format!(" {}", &real[1..]),
        not_hex(10, 'g'),
        not_hex(63, 'G'),
        not_hex(0, ':'),
        not_hex(5, '/'),
        not_hex(7, '@'),
        not_hex(8, '`'),
        "".to_owned(),
    ] {
        assert!(
            matches!(
                check_nonce(&sha, Some(&wrong)),
                Err(VerifyError::NonceMismatch { .. })
            ),
            "{wrong}"
        );
    }
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

const NOW: u64 = 1_700_000_000;

/// `check_registered` on a payload holding these time members (raw JSON),
/// at `NOW` with `leeway`: the exp and iat it keeps, in seconds.
fn times(leeway: u64, members: &str) -> Result<(u64, u64), VerifyError> {
    use crate::clock::FixedClock;
    let payload =
        format!(r#"{{"iss":"https://appleid.apple.com","aud":"com.example.ios",{members}}}"#);
    let mut parsed = Members::default();
    jws::strict_object_text(&payload, Segment::Payload, &mut parsed)?;
    let mut wire = WireClaims::from_object(&payload, &parsed);
    let keys = Arc::new(KeyCache::from_json(br#"{"keys":[]}"#).unwrap());
    let verifier = Verifier::new(keys, [ClientId::new("com.example.ios").unwrap()])
        .clock(Arc::new(FixedClock(UnixTime::from_secs(NOW))))
        .leeway_secs(leeway);
    let registered = verifier.check_registered(&mut wire)?;
    Ok((registered.exp.secs(), registered.iat.secs()))
}

#[test]
fn a_fractional_exp_is_judged_by_its_value() {
    // RFC 7519 NumericDate may be non-integer: 1700000000.5 is half a
    // second after NOW, so not expired at NOW, and expired a second later.
    assert_eq!(
        times(0, r#""exp":1700000000.5,"iat":1699999000"#).unwrap(),
        (NOW + 1, NOW - 1000)
    );
    match times(0, r#""exp":1699999999.5,"iat":1699999000"#) {
        Err(VerifyError::Expired { exp, now, leeway }) => {
            assert_eq!((exp.secs(), now.secs(), leeway), (NOW, NOW, 0));
        }
        other => panic!("{other:?}"),
    }
    // With the leeway: exp + 60 is NOW + 0.5 (valid), or NOW - 0.5 (past).
    assert!(times(60, r#""exp":1699999940.5,"iat":1699999000"#).is_ok());
    assert!(matches!(
        times(60, r#""exp":1699999939.5,"iat":1699999000"#),
        Err(VerifyError::Expired { .. })
    ));
    // A fraction no f64 holds is still a fraction.
    assert!(times(0, r#""exp":1700000000.00000000000000000001,"iat":1"#).is_ok());
    assert!(matches!(
        times(0, r#""exp":1699999999.99999999999999999999,"iat":1"#),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn a_fractional_iat_or_nbf_beyond_the_leeway_is_in_the_future() {
    let exp = r#""exp":1700086400"#;
    // NOW + leeway + 0.5 is in the future; NOW + leeway exactly is not.
    match times(60, &format!(r#"{exp},"iat":1700000060.5"#)) {
        Err(VerifyError::IssuedInFuture { iat, now, leeway }) => {
            assert_eq!((iat.secs(), now.secs(), leeway), (NOW + 61, NOW, 60));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        times(
            60,
            &format!(r#"{exp},"iat":1700000060.000000000000000000001"#)
        ),
        Err(VerifyError::IssuedInFuture { .. })
    ));
    assert_eq!(
        times(60, &format!(r#"{exp},"iat":1700000060.0"#))
            .unwrap()
            .1,
        NOW + 60
    );
    assert_eq!(
        times(60, &format!(r#"{exp},"iat":1700000059.5"#))
            .unwrap()
            .1,
        NOW + 60
    );
    match times(0, &format!(r#"{exp},"iat":1699999000,"nbf":1700000000.5"#)) {
        Err(VerifyError::NotYetValid { nbf, .. }) => assert_eq!(nbf.secs(), NOW + 1),
        other => panic!("{other:?}"),
    }
    assert!(times(0, &format!(r#"{exp},"iat":1699999000,"nbf":1699999999.5"#)).is_ok());
}

#[test]
fn times_with_an_exponent_are_their_value() {
    assert_eq!(
        times(0, r#""exp":1.7000864E9,"iat":17e8"#).unwrap(),
        (NOW + 86_400, NOW)
    );
    assert_eq!(
        times(0, r#""exp":17000864000e-1,"iat":0.17e10,"nbf":1.6e9"#).unwrap(),
        (NOW + 86_400, NOW)
    );
    assert!(matches!(
        times(0, r#""exp":1.7e9,"iat":1"#),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn negative_or_huge_times_are_refused_as_values_without_overflow() {
    let valid = r#""exp":1700086400,"iat":1699999000"#;
    for (members, claim) in [
        (r#""exp":-1,"iat":1"#.to_owned(), "exp"),
        (r#""exp":-0.5,"iat":1"#.to_owned(), "exp"),
        (r#""exp":1700086400,"iat":-1e3"#.to_owned(), "iat"),
        (format!(r#"{valid},"nbf":-1700000000.5"#), "nbf"),
        (r#""exp":1e20,"iat":1"#.to_owned(), "exp"),
        (r#""exp":18446744073709551616,"iat":1"#.to_owned(), "exp"),
        (r#""exp":18446744073709551615.5,"iat":1"#.to_owned(), "exp"),
        (r#""exp":1700086400,"iat":1e400"#.to_owned(), "iat"),
        (format!(r#"{valid},"nbf":1e99999999999999999999"#), "nbf"),
    ] {
        match times(60, &members) {
            Err(VerifyError::Claim(e @ ClaimError::Value { .. })) => {
                assert_eq!(e.claim(), claim, "{members}");
                assert!(e.to_string().len() < 300, "{e}");
                assert!(!e.hint().is_empty());
            }
            other => panic!("{members}: {other:?}"),
        }
    }
    // The largest time held is a time: the leeway saturates.
    assert_eq!(
        times(60, r#""exp":18446744073709551615,"iat":1"#)
            .unwrap()
            .0,
        u64::MAX
    );
    assert_eq!(
        times(60, r#""exp":1.8446744073709551615e19,"iat":1"#)
            .unwrap()
            .0,
        u64::MAX
    );
    // -0 is zero, the epoch: an iat long past.
    assert_eq!(times(0, r#""exp":1700086400,"iat":-0.0"#).unwrap().1, 0);
}

#[test]
fn times_that_are_not_json_numbers_stay_type_errors() {
    for (members, found) in [
        (r#""exp":"1700086400","iat":1"#, "a string"),
        (r#""exp":"1700086400.5","iat":1"#, "a string"),
        (r#""exp":1700086400,"iat":"1.7e9""#, "a string"),
        (r#""exp":1700086400,"iat":true"#, "a boolean"),
        (r#""exp":[1700086400],"iat":1"#, "an array"),
        (r#""exp":{},"iat":1"#, "an object"),
    ] {
        match times(60, members) {
            Err(VerifyError::Claim(e @ ClaimError::Type { found: f, .. })) => {
                assert_eq!(f, found, "{members}");
                assert!(e.hint().contains("hand-decoded copies"), "{}", e.hint());
                assert!(
                    e.to_string()
                        .contains("a number of seconds since the epoch"),
                    "{e}"
                );
            }
            other => panic!("{members}: {other:?}"),
        }
    }
    // JSON has no NaN or Infinity: the strict checker refuses the payload.
    for members in [
        r#""exp":NaN,"iat":1"#,
        r#""exp":Infinity,"iat":1"#,
        r#""exp":1.,"iat":1"#,
    ] {
        assert!(
            matches!(times(60, members), Err(VerifyError::Jws(_))),
            "{members}"
        );
    }
}

#[test]
fn a_verifications_future_holds_no_room_for_a_key_fetch() {
    // The key set's fetch (HTTP, locks) is a large future of its own; it is
    // boxed where it starts, and a warm cache answers without waiting, so a
    // verification's future (moved into every caller's) stays a few hundred
    // bytes instead of carrying the fetch's room.
    let keys = Arc::new(KeyCache::from_json(br#"{"keys":[]}"#).unwrap());
    let verifier = Verifier::new(Arc::clone(&keys), [ClientId::new("com.example").unwrap()]);
    let policy = NoncePolicy::Unchecked;
    let verification = verifier.verify_with_nonce("a.b.c", &policy);
    let notification = verifier.verify_notification("a.b.c");
    let lookup = keys.key("kid");
    assert!(
        std::mem::size_of_val(&lookup) <= 64,
        "{}",
        std::mem::size_of_val(&lookup)
    );
    for size in [
        std::mem::size_of_val(&verification),
        std::mem::size_of_val(&notification),
    ] {
        assert!(size <= 320, "{size}");
    }
}

#[test]
fn hex_bytes_reads_every_byte_at_every_place_as_a_byte_at_a_time_reader() {
    let naive = |text: &[u8]| -> Option<[u8; 32]> {
        let value = |d: u8| char::from(d).to_digit(16).map(|v| v as u8);
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            *byte = value(pair[0])? << 4 | value(pair[1])?;
        }
        (text.len() == 64).then_some(out)
    };
    let base = b"0123456789abcdefABCDEF9876543210fedcbaFEDCBA0f1e2d3c4b5a69788796";
    assert_eq!(
        hex_bytes::<32>(std::str::from_utf8(base).unwrap()),
        naive(base)
    );
    assert!(naive(base).is_some());
    for at in 0..base.len() {
        for byte in 0..=255u8 {
            let mut text = base.to_vec();
            text[at] = byte;
            let Ok(text_str) = std::str::from_utf8(&text) else {
                continue;
            };
            assert_eq!(hex_bytes::<32>(text_str), naive(&text), "{at} {byte:#x}");
        }
    }
    // Non-ASCII, at every place a two-byte character fits.
    for at in 0..63 {
        let text = format!("{}é{}", "a".repeat(at), "b".repeat(62 - at));
        assert_eq!(text.len(), 64);
        assert_eq!(hex_bytes::<32>(&text), None, "{at}");
    }
    assert_eq!(hex_bytes::<32>(&"a".repeat(63)), None);
    assert_eq!(hex_bytes::<32>(&"a".repeat(65)), None);
}
