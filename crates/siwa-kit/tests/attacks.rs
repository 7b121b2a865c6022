//! The attack suite: one test per way a token must be rejected, each
//! asserting the typed error and the values it names. Tokens are signed with
//! the fixture keys (tests/fixtures/README.md) unless the attack is the
//! signature itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use serde_json::{json, Value};
use siwa_kit::claims::{ClaimError, Nonce, RealUserStatus};
use siwa_kit::id_token::{NoncePolicy, VerifyError};
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache, KeyLookupError, KeyProblem};
use siwa_kit::jws::{JwsError, RsaKeyError, Segment, MAX_DEPTH, MAX_TOKEN_LEN};
use siwa_kit::Claims;

use crate::support::{
    b64, block_on, claims, claims_with, fixture, header, hex, key_a, key_b, key_other, verifier,
    verifier_with, IOS, NOW, SUB, WEB,
};

fn verify(token: &str) -> Result<Claims, VerifyError> {
    block_on(verifier().verify(token))
}

fn rejected(token: &str) -> VerifyError {
    match verify(token) {
        Ok(claims) => panic!("accepted: {claims:?}"),
        Err(e) => e,
    }
}

fn signed(claims: &Value) -> String {
    key_a().sign(claims)
}

/// A token with this header (raw JSON) and the default claims, signed by key A.
fn with_header(header: &str) -> String {
    key_a().sign_raw(header.as_bytes(), claims().to_string().as_bytes())
}

fn claim_error(token: &str) -> ClaimError {
    match rejected(token) {
        VerifyError::Claim(e) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn baseline_token_verifies() {
    let claims = verify(&signed(&claims())).expect("the baseline token is valid");
    assert_eq!(claims.sub(), SUB);
    assert_eq!(claims.audience(), IOS);
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.is_private_email(), Some(true));
    assert_eq!(claims.real_user_status(), Some(RealUserStatus::LikelyReal));
}

// --- alg ------------------------------------------------------------------

#[test]
fn alg_none_is_rejected() {
    let kid = key_a().kid;
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"kid": kid, "alg": "none"}).to_string()),
        b64(claims().to_string())
    );
    assert!(matches!(rejected(&unsigned), VerifyError::Algorithm { found } if found == "\"none\""));
    // Even with a valid RS256 signature over it.
    let token = with_header(&json!({"kid": kid, "alg": "none"}).to_string());
    assert!(matches!(rejected(&token), VerifyError::Algorithm { found } if found == "\"none\""));
}

#[test]
fn alg_hs256_signed_with_the_rsa_public_key_as_hmac_secret_is_rejected() {
    // The classic confusion: a verifier that takes alg from the token would
    // check this HMAC with the (public) RSA key as the secret, and accept it.
    let spki_pem = std::fs::read_to_string(fixture("AuthKey_ABC123DEFG.pub.pem")).unwrap();
    for secret in [
        key_a().n.clone(),
        spki_pem.into_bytes(),
        key_a().jwk().n.unwrap().into_bytes(),
    ] {
        let input = format!(
            "{}.{}",
            b64(json!({"kid": key_a().kid, "alg": "HS256"}).to_string()),
            b64(claims().to_string())
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let token = format!("{input}.{}", b64(tag.as_ref()));
        assert!(
            matches!(rejected(&token), VerifyError::Algorithm { found } if found == "\"HS256\"")
        );
    }
}

#[test]
fn alg_other_than_rs256_is_rejected() {
    for alg in [
        "RS384",
        "RS512",
        "PS256",
        "ES256",
        "EdDSA",
        "rs256",
        "RS256 ",
        " RS256",
        "RS256\u{0}",
    ] {
        let token = with_header(&json!({"kid": key_a().kid, "alg": alg}).to_string());
        match rejected(&token) {
            VerifyError::Algorithm { found } => assert_eq!(found, format!("{alg:?}")),
            other => panic!("{alg}: {other:?}"),
        }
    }
    for (alg, found) in [
        (json!(null), "null"),
        (json!(256), "an integer"),
        (json!(["RS256"]), "an array"),
    ] {
        let token = with_header(&json!({"kid": key_a().kid, "alg": alg}).to_string());
        assert!(matches!(rejected(&token), VerifyError::Algorithm { found: f } if f == found));
    }
}

#[test]
fn alg_missing_is_rejected() {
    let token = with_header(&json!({"kid": key_a().kid}).to_string());
    assert!(matches!(rejected(&token), VerifyError::Algorithm { found } if found == "missing"));
}

// --- kid and keys ---------------------------------------------------------

#[test]
fn kid_missing_is_rejected() {
    for header in [
        json!({"alg": "RS256"}),
        json!({"alg": "RS256", "kid": ""}),
        json!({"alg": "RS256", "kid": null}),
        json!({"alg": "RS256", "kid": 1}),
    ] {
        assert!(
            matches!(
                rejected(&with_header(&header.to_string())),
                VerifyError::KidMissing
            ),
            "{header}"
        );
    }
}

#[test]
fn kid_unknown_is_rejected() {
    let token = with_header(&header("NOTAKEY123"));
    match rejected(&token) {
        VerifyError::Key(KeyLookupError::UnknownKid { kid, known }) => {
            assert_eq!(kid, "NOTAKEY123");
            assert_eq!(known, [key_a().kid]);
        }
        other => panic!("{other:?}"),
    }
}

fn set_with(jwk: Jwk) -> Arc<KeyCache> {
    Arc::new(KeyCache::from_jwks(&JwkSet::new(vec![jwk])))
}

fn unusable(keys: Arc<KeyCache>, token: &str) -> KeyProblem {
    match block_on(verifier_with(keys).verify(token)) {
        Err(VerifyError::Key(KeyLookupError::Unusable { kid, problem })) => {
            assert_eq!(kid, key_a().kid);
            problem
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_that_is_not_rsa_is_refused() {
    let mut jwk = key_a().jwk();
    jwk.kty = "EC".into();
    assert_eq!(
        unusable(set_with(jwk), &signed(&claims())),
        KeyProblem::NotRsa { kty: "EC".into() }
    );
    let mut oct = key_a().jwk();
    oct.kty = "oct".into();
    assert_eq!(
        unusable(set_with(oct), &signed(&claims())),
        KeyProblem::NotRsa { kty: "oct".into() }
    );
}

#[test]
fn rsa_key_under_2048_bits_is_refused() {
    // A token genuinely signed by a 1024-bit key (made with openssl, see the
    // fixtures README): the legacy 1024-bit check accepts its signature, the
    // verifier refuses the key.
    let token = std::fs::read_to_string(fixture("rsa1024_signed.jwt")).unwrap();
    let token = token.trim();
    let n = hex(&std::fs::read_to_string(fixture("rsa1024.modulus.hex")).unwrap());
    let (input, signature) = token.rsplit_once('.').unwrap();
    let legacy = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &n[..],
        e: &[1u8, 0, 1][..],
    };
    legacy
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            input.as_bytes(),
            &siwa_kit::jws::decode_segment(signature, Segment::Signature).unwrap(),
        )
        .expect("the fixture token is genuinely signed by the 1024-bit key");
    let keys = set_with(Jwk::rsa("WEAK102401", &n, &[1, 0, 1]));
    match block_on(verifier_with(keys).verify(token)) {
        Err(VerifyError::Key(KeyLookupError::Unusable { kid, problem })) => {
            assert_eq!(kid, "WEAK102401");
            assert_eq!(
                problem,
                KeyProblem::Rsa(RsaKeyError::ModulusSize {
                    bits: 1024,
                    min: 2048,
                    max: 8192
                })
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rsa_key_with_small_or_even_exponent_is_refused() {
    for e in [&[3u8][..], &[1], &[1, 0, 0]] {
        let jwk = Jwk::rsa(key_a().kid, &key_a().n, e);
        assert!(matches!(
            unusable(set_with(jwk), &signed(&claims())),
            KeyProblem::Rsa(RsaKeyError::Exponent { .. })
        ));
    }
}

#[test]
fn jwks_use_other_than_sig_is_refused() {
    let mut jwk = key_a().jwk();
    jwk.key_use = Some("enc".into());
    assert_eq!(
        unusable(set_with(jwk), &signed(&claims())),
        KeyProblem::Use {
            found: "enc".into()
        }
    );
}

#[test]
fn jwks_alg_other_than_rs256_is_refused() {
    for alg in ["RS512", "PS256", "HS256", "none"] {
        let mut jwk = key_a().jwk();
        jwk.alg = Some(alg.into());
        assert_eq!(
            unusable(set_with(jwk), &signed(&claims())),
            KeyProblem::Alg { found: alg.into() }
        );
    }
}

#[test]
fn jwks_key_ops_without_verify_is_refused() {
    let mut jwk = key_a().jwk();
    jwk.key_ops = Some(vec!["encrypt".into()]);
    assert!(matches!(
        unusable(set_with(jwk), &signed(&claims())),
        KeyProblem::KeyOps { .. }
    ));
}

#[test]
fn jwks_with_the_kid_twice_is_refused() {
    let keys = Arc::new(KeyCache::from_jwks(&JwkSet::new(vec![
        key_a().jwk(),
        key_other().jwk(),
    ])));
    assert_eq!(unusable(keys, &signed(&claims())), KeyProblem::DuplicateKid);
}

#[test]
fn token_signed_by_a_key_not_in_the_set_is_rejected() {
    // key_other claims key A's kid.
    let token = key_other().sign(&claims());
    assert!(matches!(rejected(&token), VerifyError::Signature { kid } if kid == key_a().kid));
    // Key B's own kid is simply unknown to a set of A.
    let token = key_b().sign(&claims());
    assert!(matches!(
        rejected(&token),
        VerifyError::Key(KeyLookupError::UnknownKid { .. })
    ));
}

#[test]
fn signature_of_another_message_is_rejected() {
    let first = signed(&claims());
    let second = signed(&claims_with(
        json!({"sub": "001234.ffffffffffffffffffffffffffffffff.9999"}),
    ));
    let (first_input, _) = first.rsplit_once('.').unwrap();
    let (_, second_signature) = second.rsplit_once('.').unwrap();
    let spliced = format!("{first_input}.{second_signature}");
    assert!(matches!(rejected(&spliced), VerifyError::Signature { .. }));
}

#[test]
fn tampered_payload_is_rejected() {
    let token = signed(&claims());
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = claims_with(json!({"sub": "001234.ffffffffffffffffffffffffffffffff.9999"}));
    let forged = format!("{header}.{}.{signature}", b64(forged.to_string()));
    assert!(matches!(rejected(&forged), VerifyError::Signature { .. }));
}

#[test]
fn empty_or_truncated_signature_is_rejected() {
    let token = signed(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    assert!(matches!(
        rejected(&format!("{input}.")),
        VerifyError::Signature { .. }
    ));
    // Cut to a whole number of bytes (255), or to a shorter base64 length.
    let short = b64(&siwa_kit::jws::decode_segment(signature, Segment::Signature).unwrap()[..255]);
    assert!(matches!(
        rejected(&format!("{input}.{short}")),
        VerifyError::Signature { .. }
    ));
    let short = &signature[..signature.len() - 4];
    assert!(matches!(
        rejected(&format!("{input}.{short}")),
        VerifyError::Signature { .. } | VerifyError::Jws(JwsError::Base64 { .. })
    ));
}

// --- headers --------------------------------------------------------------

#[test]
fn crit_header_is_rejected() {
    for crit in [json!(["exp"]), json!([]), json!(null), json!("b64")] {
        let token =
            with_header(&json!({"kid": key_a().kid, "alg": "RS256", "crit": crit}).to_string());
        assert!(
            matches!(
                rejected(&token),
                VerifyError::ForbiddenHeader { name: "crit" }
            ),
            "{crit}"
        );
    }
}

#[test]
fn b64_header_is_rejected() {
    for b64_value in [json!(false), json!(true)] {
        let token =
            with_header(&json!({"kid": key_a().kid, "alg": "RS256", "b64": b64_value}).to_string());
        assert!(matches!(
            rejected(&token),
            VerifyError::ForbiddenHeader { name: "b64" }
        ));
    }
}

#[test]
fn embedded_keys_and_key_urls_are_never_followed() {
    // Signed by a key not in the set, which the header offers in every way
    // JOSE allows: the verifier uses only its key set.
    let other = key_other().jwk();
    let header = json!({
        "kid": key_a().kid,
        "alg": "RS256",
        "jwk": other,
        "jku": "http://127.0.0.1:9/keys",
        "x5u": "http://127.0.0.1:9/cert",
        "x5c": ["MIIB"],
    });
    let token = key_other().sign_raw(
        header.to_string().as_bytes(),
        claims().to_string().as_bytes(),
    );
    assert!(matches!(rejected(&token), VerifyError::Signature { .. }));
}

// --- iss ------------------------------------------------------------------

#[test]
fn iss_not_byte_exact_is_rejected() {
    for iss in [
        "https://appleid.apple.com/",
        "https://APPLEID.apple.com",
        "http://appleid.apple.com",
        "https://appleid.apple.com ",
        "https://appleid.apple.com.evil.example",
        "appleid.apple.com",
        "",
    ] {
        let token = signed(&claims_with(json!({ "iss": iss })));
        match rejected(&token) {
            VerifyError::Issuer { found, expected } => {
                assert_eq!(found, iss);
                assert_eq!(expected, "https://appleid.apple.com");
            }
            VerifyError::Claim(ClaimError::Empty { claim: "iss" }) if iss.is_empty() => {}
            other => panic!("{iss:?}: {other:?}"),
        }
    }
}

#[test]
fn iss_missing_or_not_a_string_is_rejected() {
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"iss": null})))),
        ClaimError::Missing { claim: "iss" }
    );
    assert!(matches!(
        claim_error(&signed(&claims_with(
            json!({"iss": ["https://appleid.apple.com"]})
        ))),
        ClaimError::Type { claim: "iss", .. }
    ));
}

// --- aud ------------------------------------------------------------------

#[test]
fn aud_not_accepted_is_rejected() {
    let token = signed(&claims_with(json!({"aud": "com.example.other"})));
    match rejected(&token) {
        VerifyError::Audience { found, accepted } => {
            assert_eq!(found, ["com.example.other"]);
            assert_eq!(accepted, [WEB, IOS]);
        }
        other => panic!("{other:?}"),
    }
    // Not a prefix, not case-insensitive.
    for aud in ["com.example", "COM.EXAMPLE.WEB", "com.example.web ", ""] {
        let token = signed(&claims_with(json!({ "aud": aud })));
        assert!(
            matches!(rejected(&token), VerifyError::Audience { .. }),
            "{aud:?}"
        );
    }
}

#[test]
fn aud_missing_or_of_wrong_type_is_rejected() {
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"aud": null})))),
        ClaimError::Missing { claim: "aud" }
    );
    for aud in [
        json!(1),
        json!({"a": WEB}),
        json!([WEB, 1]),
        json!([[WEB]]),
        json!(true),
    ] {
        assert!(
            matches!(
                claim_error(&signed(&claims_with(json!({ "aud": aud })))),
                ClaimError::Type { claim: "aud", .. }
            ),
            "{aud}"
        );
    }
}

#[test]
fn aud_array_whose_members_are_not_all_accepted_is_rejected() {
    let token = signed(&claims_with(
        json!({"aud": [IOS, "com.evil.app"], "azp": IOS}),
    ));
    assert!(
        matches!(rejected(&token), VerifyError::Audience { found, .. } if found == [IOS, "com.evil.app"])
    );
    let empty = signed(&claims_with(json!({"aud": []})));
    assert!(matches!(rejected(&empty), VerifyError::Audience { found, .. } if found.is_empty()));
}

#[test]
fn aud_array_of_several_without_azp_is_rejected() {
    let token = signed(&claims_with(json!({"aud": [WEB, IOS]})));
    match rejected(&token) {
        VerifyError::AuthorizedParty { azp, aud } => {
            assert_eq!(azp, None);
            assert_eq!(aud, [WEB, IOS]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn aud_array_with_azp_not_among_them_is_rejected() {
    for azp in ["com.evil.app", "com.example.other"] {
        let token = signed(&claims_with(json!({"aud": [WEB, IOS], "azp": azp})));
        assert!(
            matches!(rejected(&token), VerifyError::AuthorizedParty { azp: Some(a), .. } if a == azp),
            "{azp}"
        );
    }
    // An azp naming an accepted client that is not in aud.
    let token = signed(&claims_with(json!({"aud": [IOS], "azp": WEB})));
    assert!(matches!(
        rejected(&token),
        VerifyError::AuthorizedParty { .. }
    ));
    // A single aud with an azp naming something else.
    let token = signed(&claims_with(json!({"aud": IOS, "azp": "com.evil.app"})));
    assert!(matches!(
        rejected(&token),
        VerifyError::AuthorizedParty { .. }
    ));
}

#[test]
fn aud_forms_that_are_accepted() {
    let one = verify(&signed(&claims_with(json!({"aud": [WEB]})))).unwrap();
    assert_eq!(one.audience(), WEB);
    let both = verify(&signed(&claims_with(
        json!({"aud": [WEB, IOS], "azp": IOS}),
    )))
    .unwrap();
    assert_eq!(both.audience(), IOS);
    assert_eq!(both.audiences(), [WEB, IOS]);
    let web = verify(&signed(&claims_with(json!({"aud": WEB})))).unwrap();
    assert_eq!(web.audience(), WEB);
}

// --- sub ------------------------------------------------------------------

#[test]
fn sub_missing_is_rejected() {
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"sub": null})))),
        ClaimError::Missing { claim: "sub" }
    );
}

#[test]
fn sub_empty_is_rejected() {
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"sub": ""})))),
        ClaimError::Empty { claim: "sub" }
    );
}

#[test]
fn sub_not_a_string_is_rejected() {
    for sub in [json!(1234), json!(["a"]), json!({"id": "a"})] {
        assert!(matches!(
            claim_error(&signed(&claims_with(json!({ "sub": sub })))),
            ClaimError::Type {
                claim: "sub",
                expected: "a string",
                ..
            }
        ));
    }
    // A JSON null member is present, and not a string.
    let mut with_null = claims();
    with_null["sub"] = Value::Null;
    assert!(matches!(
        claim_error(&signed(&with_null)),
        ClaimError::Type {
            claim: "sub",
            found: "null",
            ..
        }
    ));
}

// --- exp, iat, nbf ----------------------------------------------------------

#[test]
fn exp_not_a_json_number_is_rejected() {
    for (exp, found) in [
        (json!((NOW + 600).to_string()), "a string"),
        (json!(null), "null"),
        (json!(true), "a boolean"),
        (json!([NOW + 600]), "an array"),
    ] {
        let mut c = claims();
        c["exp"] = exp.clone();
        match claim_error(&signed(&c)) {
            ClaimError::Type {
                claim: "exp",
                found: f,
                ..
            } => assert_eq!(f, found, "{exp}"),
            other => panic!("{exp}: {other:?}"),
        }
    }
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"exp": null})))),
        ClaimError::Missing { claim: "exp" }
    );
}

#[test]
fn iat_not_a_json_number_is_rejected() {
    for iat in [json!((NOW - 100).to_string()), json!("1.5e9"), json!(false)] {
        let mut c = claims();
        c["iat"] = iat.clone();
        assert!(
            matches!(
                claim_error(&signed(&c)),
                ClaimError::Type { claim: "iat", .. }
            ),
            "{iat}"
        );
    }
    assert_eq!(
        claim_error(&signed(&claims_with(json!({"iat": null})))),
        ClaimError::Missing { claim: "iat" }
    );
}

/// RFC 7519's NumericDate may be non-integer: such times are judged by
/// their value, in a whole token as in its parts.
#[test]
fn fractional_and_exponent_times_are_judged_by_value() {
    let payload = |times: &str| {
        let mut c = claims();
        for name in ["exp", "iat", "auth_time"] {
            c.as_object_mut().unwrap().remove(name);
        }
        let text = c.to_string();
        format!("{},{times}}}", &text[..text.len() - 1])
    };
    let sign =
        |times: &str| key_a().sign_raw(header(key_a().kid).as_bytes(), payload(times).as_bytes());
    let exp = NOW - 60; // exp + leeway is NOW
    let ok = sign(&format!(
        r#""exp":{exp}.5,"iat":{}.25,"auth_time":1.6e9,"nbf":{}.5"#,
        NOW - 700,
        NOW + 59
    ));
    let claims = verify(&ok).expect("half a second left");
    assert_eq!(claims.expires_at().secs(), exp + 1);
    assert_eq!(claims.issued_at().secs(), NOW - 699);
    assert_eq!(claims.auth_time().map(|t| t.secs()), Some(1_600_000_000));
    let normal = serde_json::to_value(&claims).unwrap();
    assert_eq!(
        (normal["exp"].as_u64(), normal["iat"].as_u64()),
        (Some(exp + 1), Some(NOW - 699))
    );
    assert!(matches!(
        rejected(&sign(&format!(r#""exp":{}.5,"iat":1.6e9"#, exp - 1))),
        VerifyError::Expired { .. }
    ));
    assert!(matches!(
        rejected(&sign(&format!(
            r#""exp":{},"iat":{}.5"#,
            NOW + 600,
            NOW + 60
        ))),
        VerifyError::IssuedInFuture { .. }
    ));
    assert!(matches!(
        claim_error(&sign(r#""exp":-1.5,"iat":1.6e9"#)),
        ClaimError::Value { claim: "exp", .. }
    ));
    assert!(matches!(
        claim_error(&sign(&format!(
            r#""exp":{},"iat":1.6e9,"auth_time":-1"#,
            NOW + 600
        ))),
        ClaimError::Value {
            claim: "auth_time",
            ..
        }
    ));
}

#[test]
fn expired_beyond_leeway_is_rejected() {
    let token = signed(&claims_with(json!({"exp": NOW - 61, "iat": NOW - 700})));
    match rejected(&token) {
        VerifyError::Expired { exp, now, leeway } => {
            assert_eq!((exp.secs(), now.secs(), leeway), (NOW - 61, NOW, 60));
        }
        other => panic!("{other:?}"),
    }
    // At exactly exp + leeway it is over.
    let token = signed(&claims_with(json!({"exp": NOW - 60, "iat": NOW - 700})));
    assert!(matches!(rejected(&token), VerifyError::Expired { .. }));
    // Inside the leeway it passes.
    let token = signed(&claims_with(json!({"exp": NOW - 59, "iat": NOW - 700})));
    assert!(verify(&token).is_ok());
    // With no leeway, a token at its exp is expired.
    let strict = verifier().leeway_secs(0);
    let token = signed(&claims_with(json!({"exp": NOW, "iat": NOW - 700})));
    assert!(matches!(
        block_on(strict.verify(&token)),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn iat_in_the_future_is_rejected() {
    let token = signed(&claims_with(json!({"iat": NOW + 61})));
    match rejected(&token) {
        VerifyError::IssuedInFuture { iat, now, leeway } => {
            assert_eq!((iat.secs(), now.secs(), leeway), (NOW + 61, NOW, 60));
        }
        other => panic!("{other:?}"),
    }
    assert!(verify(&signed(&claims_with(json!({"iat": NOW + 60})))).is_ok());
}

#[test]
fn nbf_in_the_future_is_rejected() {
    let token = signed(&claims_with(json!({"nbf": NOW + 61})));
    assert!(matches!(
        rejected(&token),
        VerifyError::NotYetValid { nbf, .. } if nbf.secs() == NOW + 61
    ));
    assert!(verify(&signed(&claims_with(json!({"nbf": NOW + 60})))).is_ok());
    assert!(matches!(
        claim_error(&signed(&claims_with(json!({"nbf": "soon"})))),
        ClaimError::Type { claim: "nbf", .. }
    ));
}

// --- nonce ----------------------------------------------------------------

fn with_nonce(nonce: Option<&str>, policy: &NoncePolicy) -> Result<Claims, VerifyError> {
    let claims = claims_with(json!({ "nonce": nonce }));
    block_on(verifier().verify_with_nonce(&signed(&claims), policy))
}

fn sha256_hex(raw: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, raw.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn nonce_exact_mismatch_is_rejected() {
    let policy = NoncePolicy::Exact(Nonce::new("web-nonce-123"));
    assert!(with_nonce(Some("web-nonce-123"), &policy).is_ok());
    for other in [
        "web-nonce-124",
        "WEB-NONCE-123",
        "web-nonce-12",
        "",
        &sha256_hex("web-nonce-123"),
    ] {
        assert!(
            matches!(
                with_nonce(Some(other), &policy),
                Err(VerifyError::NonceMismatch { policy: "exact" })
            ),
            "{other:?}"
        );
    }
}

#[test]
fn nonce_exact_missing_is_rejected() {
    let policy = NoncePolicy::Exact(Nonce::new("web-nonce-123"));
    assert!(matches!(
        with_nonce(None, &policy),
        Err(VerifyError::NonceMissing { policy: "exact" })
    ));
}

#[test]
fn nonce_sha256_mismatch_is_rejected() {
    let policy = NoncePolicy::Sha256OfRaw(Nonce::new("raw-from-the-app"));
    let right = sha256_hex("raw-from-the-app");
    let claims = with_nonce(Some(&right), &policy).expect("the hash of the raw nonce matches");
    assert_eq!(claims.nonce().unwrap().secret(), right);
    assert!(with_nonce(Some(&right.to_ascii_uppercase()), &policy).is_ok());
    for other in [
        sha256_hex("raw-from-the-app2"),
        "raw-from-the-app".to_owned(),
        right[..63].to_owned(),
        format!("{right}0"),
    ] {
        assert!(
            matches!(
                with_nonce(Some(&other), &policy),
                Err(VerifyError::NonceMismatch {
                    policy: "sha256-of-raw"
                })
            ),
            "{other:?}"
        );
    }
}

#[test]
fn nonce_sha256_missing_is_rejected() {
    let policy = NoncePolicy::Sha256OfRaw(Nonce::new("raw-from-the-app"));
    assert!(matches!(
        with_nonce(None, &policy),
        Err(VerifyError::NonceMissing {
            policy: "sha256-of-raw"
        })
    ));
}

#[test]
fn nonce_unchecked_accepts_any_or_none() {
    assert!(with_nonce(None, &NoncePolicy::Unchecked).is_ok());
    assert!(with_nonce(Some("anything"), &NoncePolicy::Unchecked).is_ok());
    let wrong_type = claims_with(json!({"nonce": 12}));
    assert!(matches!(
        block_on(verifier().verify(&signed(&wrong_type))),
        Err(VerifyError::Claim(ClaimError::Type { claim: "nonce", .. }))
    ));
}

// --- compact serialization --------------------------------------------------

#[test]
fn two_segments_are_rejected() {
    let token = signed(&claims());
    let (input, _) = token.rsplit_once('.').unwrap();
    assert!(matches!(
        rejected(input),
        VerifyError::Jws(JwsError::SegmentCount { count: 2 })
    ));
}

#[test]
fn four_segments_are_rejected() {
    let token = format!("{}.{}", signed(&claims()), b64("extra"));
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::SegmentCount { count: 4 })
    ));
    // A JWE has five.
    assert!(matches!(
        rejected("a.b.c.d.e"),
        VerifyError::Jws(JwsError::SegmentCount { count: 5 })
    ));
}

#[test]
fn padding_is_rejected_in_every_segment() {
    let token = signed(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    for (index, segment) in [
        (0, Segment::Header),
        (1, Segment::Payload),
        (2, Segment::Signature),
    ] {
        let mut padded: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
        padded[index].push_str("==");
        let token = padded.join(".");
        match rejected(&token) {
            VerifyError::Jws(JwsError::Base64 { segment: s, reason }) => {
                assert_eq!(s, segment);
                assert!(reason.contains("padding"), "{reason}");
            }
            other => panic!("{segment:?}: {other:?}"),
        }
    }
}

#[test]
fn non_canonical_base64_is_rejected() {
    let token = signed(&claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    // 256 bytes encode to 342 characters: the last one carries 4 unused bits.
    // Setting one of them decodes to the same bytes in a lenient decoder.
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let sibling = alphabet.chars().nth(index ^ 1).unwrap();
    let stray = format!("{input}.{}{sibling}", &signature[..signature.len() - 1]);
    assert!(matches!(
        rejected(&stray),
        VerifyError::Jws(JwsError::Base64 {
            segment: Segment::Signature,
            ..
        })
    ));
    // Standard base64's alphabet, spaces, and characters of neither.
    for (from, to) in [("-", "+"), ("_", "/")] {
        if signature.contains(from) {
            let std_alphabet = format!("{input}.{}", signature.replacen(from, to, 1));
            assert!(matches!(
                rejected(&std_alphabet),
                VerifyError::Jws(JwsError::Base64 { .. })
            ));
        }
    }
    for bad in [
        format!(" {token}"),
        format!("{token}\n"),
        token.replacen('.', ". ", 1),
        format!("{token}*"),
    ] {
        assert!(
            matches!(rejected(&bad), VerifyError::Jws(JwsError::Base64 { .. })),
            "{bad:?}"
        );
    }
    // A length no base64 has.
    let impossible = format!("{input}.{signature}AAA");
    assert!(matches!(
        rejected(&impossible),
        VerifyError::Jws(JwsError::Base64 { .. })
    ));
}

#[test]
fn invalid_utf8_is_rejected() {
    let mut bad = claims().to_string().into_bytes();
    let at = bad.windows(3).position(|w| w == b"001").unwrap();
    bad[at] = 0xff;
    let token = key_a().sign_raw(header(key_a().kid).as_bytes(), &bad);
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::Utf8 {
            segment: Segment::Payload,
            ..
        })
    ));
    // An overlong encoding of '/', and an encoded surrogate.
    for sequence in [&[0xc0u8, 0xaf][..], &[0xed, 0xa0, 0x80]] {
        let mut bad = claims().to_string().into_bytes();
        bad.splice(at..at + 1, sequence.iter().copied());
        let token = key_a().sign_raw(header(key_a().kid).as_bytes(), &bad);
        assert!(matches!(
            rejected(&token),
            VerifyError::Jws(JwsError::Utf8 { .. })
        ));
    }
    // An escaped lone surrogate.
    let escaped = claims().to_string().replacen("001234", "\\ud800", 1);
    let token = key_a().sign_raw(header(key_a().kid).as_bytes(), escaped.as_bytes());
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::Utf8 { .. })
    ));
    // In the header.
    let token = key_a().sign_raw(
        b"{\"kid\":\"TESTKEYA01\xff\",\"alg\":\"RS256\"}",
        claims().to_string().as_bytes(),
    );
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::Utf8 {
            segment: Segment::Header,
            ..
        })
    ));
}

#[test]
fn duplicate_members_in_header_are_rejected() {
    let kid = key_a().kid;
    for header in [
        format!(r#"{{"kid":"{kid}","alg":"RS256","alg":"none"}}"#),
        format!(r#"{{"kid":"{kid}","alg":"none","alg":"RS256"}}"#),
        format!(r#"{{"kid":"{kid}","alg":"RS256","\u0061lg":"RS256"}}"#),
        format!(r#"{{"kid":"{kid}","kid":"OTHER","alg":"RS256"}}"#),
    ] {
        match rejected(&with_header(&header)) {
            VerifyError::Jws(JwsError::DuplicateMember {
                segment: Segment::Header,
                name,
            }) => {
                assert!(name == "alg" || name == "kid", "{name}");
            }
            other => panic!("{header}: {other:?}"),
        }
    }
}

#[test]
fn duplicate_members_in_claims_are_rejected() {
    let body = claims().to_string();
    for (extra, name) in [
        (
            r#""sub":"001234.ffffffffffffffffffffffffffffffff.9999""#,
            "sub",
        ),
        (r#""aud":"com.example.ios""#, "aud"),
        (r#""\u0065xp":1"#, "exp"),
        (r#""extra":{"k":1,"k":2}"#, "k"),
    ] {
        let payload = format!("{},{extra}}}", &body[..body.len() - 1]);
        let token = key_a().sign_raw(header(key_a().kid).as_bytes(), payload.as_bytes());
        match rejected(&token) {
            VerifyError::Jws(JwsError::DuplicateMember {
                segment: Segment::Payload,
                name: n,
            }) => {
                assert_eq!(n, name);
            }
            other => panic!("{extra}: {other:?}"),
        }
    }
}

fn nested(depth: usize) -> String {
    // `depth` levels counting the top-level object.
    format!("{}{}", "[".repeat(depth - 1), "]".repeat(depth - 1))
}

#[test]
fn nesting_deeper_than_32_is_rejected() {
    assert_eq!(MAX_DEPTH, 32);
    let body = claims().to_string();
    let at_limit = format!(
        "{},\"deep\":{}}}",
        &body[..body.len() - 1],
        nested(MAX_DEPTH)
    );
    let token = key_a().sign_raw(header(key_a().kid).as_bytes(), at_limit.as_bytes());
    assert!(verify(&token).is_ok(), "32 levels are allowed");
    let over = format!(
        "{},\"deep\":{}}}",
        &body[..body.len() - 1],
        nested(MAX_DEPTH + 1)
    );
    let token = key_a().sign_raw(header(key_a().kid).as_bytes(), over.as_bytes());
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::TooDeep {
            segment: Segment::Payload,
            max: 32
        })
    ));
    // In the header.
    let header = format!(
        r#"{{"kid":"{}","alg":"RS256","x":{}}}"#,
        key_a().kid,
        nested(MAX_DEPTH + 1)
    );
    assert!(matches!(
        rejected(&with_header(&header)),
        VerifyError::Jws(JwsError::TooDeep {
            segment: Segment::Header,
            ..
        })
    ));
}

#[test]
fn deeply_nested_json_is_rejected_without_recursion() {
    // As deep as 16 KiB allows: thousands of levels, rejected at level 33
    // without a stack overflow (the checker has no recursion).
    let header = format!(
        r#"{{"kid":"{}","alg":"RS256","x":{}}}"#,
        key_a().kid,
        "[".repeat(9_000)
    );
    let token = format!("{}.{}.{}", b64(&header), b64("{}"), b64("sig"));
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::TooDeep { .. })
    ));
}

#[test]
fn one_megabyte_token_is_rejected_quickly_before_decoding() {
    let valid = signed(&claims());
    let padding = "A".repeat(1024 * 1024);
    let huge = format!(
        "{}.{padding}{}",
        valid.split('.').next().unwrap(),
        &valid[valid.find('.').unwrap()..]
    );
    assert!(huge.len() > 1024 * 1024);
    let verifier = verifier();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..1_000 {
        match runtime.block_on(verifier.verify(&huge)) {
            Err(VerifyError::Jws(JwsError::TooLarge { len, max })) => {
                assert_eq!((len, max), (huge.len(), MAX_TOKEN_LEN));
            }
            other => panic!("{other:?}"),
        }
    }
    // Decoding 1 MB a thousand times would take far longer than this.
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
    // Just over the limit is refused the same way.
    let over = "a".repeat(MAX_TOKEN_LEN + 1);
    assert!(matches!(
        rejected(&over),
        VerifyError::Jws(JwsError::TooLarge { .. })
    ));
}

#[test]
fn header_or_payload_that_is_not_an_object_is_rejected() {
    for header in ["[]", "\"RS256\"", "null", ""] {
        assert!(
            matches!(
                rejected(&with_header(header)),
                VerifyError::Jws(JwsError::NotObject {
                    segment: Segment::Header
                })
            ),
            "{header:?}"
        );
    }
    let token = key_a().sign_raw(header(key_a().kid).as_bytes(), b"[1]");
    assert!(matches!(
        rejected(&token),
        VerifyError::Jws(JwsError::NotObject {
            segment: Segment::Payload
        })
    ));
}

#[test]
fn json_outside_the_grammar_is_rejected() {
    let body = claims().to_string();
    for payload in [
        format!("{body} x"),
        format!("{},}}", &body[..body.len() - 1]),
        body.replacen(':', ": NaN,\"z\":", 1),
        body.replacen("\"nonce_supported\":true", "\"nonce_supported\":True", 1),
    ] {
        let token = key_a().sign_raw(header(key_a().kid).as_bytes(), payload.as_bytes());
        assert!(
            matches!(
                rejected(&token),
                VerifyError::Jws(JwsError::Json {
                    segment: Segment::Payload,
                    ..
                })
            ),
            "{payload}"
        );
    }
}

// --- Apple's claim types ------------------------------------------------------

#[test]
fn apple_flags_accept_strings_and_booleans_only() {
    for (value, expected) in [
        (json!("true"), true),
        (json!("false"), false),
        (json!(true), true),
        (json!(false), false),
    ] {
        let claims = verify(&signed(&claims_with(
            json!({"email_verified": value, "is_private_email": value}),
        )))
        .unwrap();
        assert_eq!(claims.email_verified(), Some(expected));
        assert_eq!(claims.is_private_email(), Some(expected));
    }
    for value in [json!("yes"), json!("TRUE"), json!(1), json!("1")] {
        assert!(
            matches!(
                claim_error(&signed(&claims_with(json!({ "email_verified": value })))),
                ClaimError::Value {
                    claim: "email_verified",
                    ..
                } | ClaimError::Type {
                    claim: "email_verified",
                    ..
                }
            ),
            "{value}"
        );
    }
}

#[test]
fn real_user_status_outside_0_to_2_is_rejected() {
    for (code, status) in [
        (0, RealUserStatus::Unsupported),
        (1, RealUserStatus::Unknown),
        (2, RealUserStatus::LikelyReal),
    ] {
        let claims = verify(&signed(&claims_with(json!({ "real_user_status": code })))).unwrap();
        assert_eq!(claims.real_user_status(), Some(status));
    }
    assert!(matches!(
        claim_error(&signed(&claims_with(json!({"real_user_status": 3})))),
        ClaimError::Value {
            claim: "real_user_status",
            ..
        }
    ));
    assert!(matches!(
        claim_error(&signed(&claims_with(json!({"real_user_status": "2"})))),
        ClaimError::Type {
            claim: "real_user_status",
            ..
        }
    ));
}

#[test]
fn errors_hold_no_token_or_nonce() {
    let token = signed(&claims_with(
        json!({"nonce": "nonce-value-xyz", "exp": NOW - 1000, "iat": NOW - 2000}),
    ));
    let signature = token.rsplit_once('.').unwrap().1.to_owned();
    let policy = NoncePolicy::Exact(Nonce::new("expected-nonce-abc"));
    for result in [
        block_on(verifier().verify_with_nonce(&token, &policy)),
        block_on(
            verifier()
                .leeway_secs(100_000)
                .verify_with_nonce(&token, &policy),
        ),
    ] {
        let error = result.unwrap_err();
        let text = format!("{error} | {error:?} | {}", error.hint());
        for secret in [
            signature.as_str(),
            "nonce-value-xyz",
            "expected-nonce-abc",
            &token[..40],
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
