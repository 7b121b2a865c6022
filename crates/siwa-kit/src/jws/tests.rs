use std::sync::Arc;

use super::*;

#[test]
fn splits_three_segments() {
    let parts = split("aGVhZA.cGF5.c2ln").unwrap();
    assert_eq!(parts.header(), "aGVhZA");
    assert_eq!(parts.payload(), "cGF5");
    assert_eq!(parts.signature(), "c2ln");
    assert_eq!(parts.signing_input(), b"aGVhZA.cGF5");
    assert_eq!(parts.decode(Segment::Header).unwrap(), b"head");
}

#[test]
fn rejects_wrong_segment_counts() {
    assert_eq!(
        split("a.b").unwrap_err(),
        JwsError::SegmentCount { count: 2 }
    );
    assert_eq!(
        split("a.b.c.d").unwrap_err(),
        JwsError::SegmentCount { count: 4 }
    );
    assert_eq!(
        split("abc").unwrap_err(),
        JwsError::SegmentCount { count: 1 }
    );
}

#[test]
fn rejects_non_canonical_base64() {
    for bad in ["aGVhZA==", "a+b/", "aGVhZB", "a", "a*bc"] {
        assert!(decode_segment(bad, Segment::Payload).is_err(), "{bad}");
    }
}

#[test]
fn bounds_size_before_decoding() {
    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    assert!(matches!(split(&big), Err(JwsError::TooLarge { .. })));
}

const KEY: &str = include_str!("../../tests/fixtures/AuthKey_ABC123DEFG.p8");
const OTHER_KEY: &str = include_str!("../../tests/fixtures/AuthKey_ZZZ999YYYX.p8");

/// The kinds of token in these tests, by `typ`.
const KINDS: [(&str, u8); 2] = [("a+jwt", 1), ("b+jwt", 2)];

fn key(pem: &str) -> crate::p8::SigningKey {
    crate::p8::SigningKey::from_pem(pem).unwrap()
}

/// A token of `key` with this header, signed as it is.
fn with_header(key: &crate::p8::SigningKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode(header.as_bytes()),
        encode(payload.as_bytes())
    );
    let signature = key.sign_es256(input.as_bytes()).unwrap();
    format!("{input}.{}", encode(&signature))
}

#[test]
fn an_es256_key_verifies_what_it_signs_and_tells_its_kind() {
    let key = key(KEY);
    let ours = Es256Key::new(&key, "k1");
    let token = ours.sign(Some("b+jwt"), br#"{"sub":"u1"}"#).unwrap();
    let header = split(&token).unwrap().decode(Segment::Header).unwrap();
    assert_eq!(header, br#"{"alg":"ES256","kid":"k1","typ":"b+jwt"}"#);
    let (kind, verified) = ours.verify(&token, &KINDS).unwrap();
    assert_eq!((kind, verified.payload()), (2, r#"{"sub":"u1"}"#));
    // Without a typ, the header is a client secret's.
    let token = ours.sign(None, b"{}").unwrap();
    let header = split(&token).unwrap().decode(Segment::Header).unwrap();
    assert_eq!(header, br#"{"alg":"ES256","kid":"k1"}"#);
}

#[test]
fn an_es256_key_refuses_another_kid_or_typ_before_the_signature() {
    let key = key(KEY);
    let ours = Es256Key::new(&key, "k1");
    let token = Es256Key::new(&key, "k2")
        .sign(Some("a+jwt"), b"{}")
        .unwrap();
    assert!(matches!(
        ours.verify(&token, &KINDS),
        Err(TokenError::Key(ForeignToken::Kid { found })) if found == "k2"
    ));
    for (typ, found) in [
        (None, None),
        (Some("JWT"), Some("JWT")),
        (Some("A+JWT"), Some("A+JWT")),
    ] {
        let token = ours.sign(typ, b"{}").unwrap();
        match ours.verify(&token, &KINDS) {
            Err(TokenError::Key(ForeignToken::Type { found: f })) => {
                assert_eq!(f.as_deref(), found, "{typ:?}");
            }
            other => panic!("{typ:?}: {other:?}"),
        }
    }
    let numeric_typ = with_header(&key, r#"{"alg":"ES256","kid":"k1","typ":1}"#, "{}");
    assert!(matches!(
        ours.verify(&numeric_typ, &KINDS),
        Err(TokenError::Key(ForeignToken::Type { found: None }))
    ));
}

#[test]
fn an_es256_key_refuses_other_signers_algorithms_and_payloads() {
    let (key, other) = (key(KEY), key(OTHER_KEY));
    let ours = Es256Key::new(&key, "k1");
    let forged = Es256Key::new(&other, "k1")
        .sign(Some("a+jwt"), b"{}")
        .unwrap();
    assert!(matches!(
        ours.verify(&forged, &KINDS),
        Err(TokenError::Signature { kid }) if kid == "k1"
    ));
    let rs256 = with_header(&key, r#"{"alg":"RS256","kid":"k1","typ":"a+jwt"}"#, "{}");
    assert!(matches!(
        ours.verify(&rs256, &KINDS),
        Err(TokenError::Algorithm { found, allowed: "ES256" }) if found == "\"RS256\""
    ));
    let crit = with_header(
        &key,
        r#"{"alg":"ES256","kid":"k1","typ":"a+jwt","crit":[]}"#,
        "{}",
    );
    assert!(matches!(
        ours.verify(&crit, &KINDS),
        Err(TokenError::ForbiddenHeader { name: "crit" })
    ));
    let header = r#"{"alg":"ES256","kid":"k1","typ":"a+jwt"}"#;
    let duplicate = with_header(&key, header, r#"{"sub":"a","sub":"b"}"#);
    assert!(matches!(
        ours.verify(&duplicate, &KINDS),
        Err(TokenError::Jws(JwsError::DuplicateMember { .. }))
    ));
    assert!(matches!(
        ours.verify(&with_header(&key, header, "[]"), &KINDS),
        Err(TokenError::Jws(JwsError::NotObject { .. }))
    ));
}

/// A key source of the caller's: ES256 keys by kid, never waiting.
struct Keys(Vec<(&'static str, Arc<crate::p8::PublicKey>)>);

impl KeySource<Es256> for Keys {
    type Key = Arc<crate::p8::PublicKey>;
    type Error = &'static str;

    fn key(
        &self,
        kid: &str,
    ) -> impl std::future::Future<Output = Result<Self::Key, &'static str>> + Send {
        let found = self
            .0
            .iter()
            .find(|(k, _)| *k == kid)
            .map(|(_, key)| Arc::clone(key));
        std::future::ready(found.ok_or("unknown kid"))
    }
}

/// Runs a future that never waits.
fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("waited"),
    }
}

#[test]
fn verify_takes_any_key_source_and_only_the_allowed_algorithm() {
    let (a, b) = (key(KEY), key(OTHER_KEY));
    let keys = Keys(vec![
        ("a", Arc::new(a.public_key().clone())),
        ("b", Arc::new(b.public_key().clone())),
    ]);
    let token = Es256Key::new(&b, "b").sign(None, br#"{"n":1}"#).unwrap();
    let verified = now(verify(&token, &keys, Es256)).unwrap();
    assert_eq!(verified.payload(), r#"{"n":1}"#);
    assert_eq!(verified.into_payload(), r#"{"n":1}"#);
    let unknown = Es256Key::new(&b, "c").sign(None, b"{}").unwrap();
    assert!(matches!(
        now(verify(&unknown, &keys, Es256)),
        Err(TokenError::Key("unknown kid"))
    ));
    let swapped = Es256Key::new(&b, "a").sign(None, b"{}").unwrap();
    assert!(matches!(
        now(verify(&swapped, &keys, Es256)),
        Err(TokenError::Signature { kid }) if kid == "a"
    ));
}
