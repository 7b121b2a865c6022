//! JWKS documents: `siwa_kit::jwks::JwkSet::from_json`, `KeySet::from_jwks`,
//! `KeyCache::from_jwks`, and RSA public keys from a JWK's `n` and `e`.
//!
//! Input: a mode byte, then
//! - mode even: a key set document;
//! - mode odd: big-endian `n`, a 0xff byte, big-endian `e` (an RSA key as the
//!   crypto library sees it, without the JSON around it).
//!
//! Invariants:
//! - nothing panics; parsing stays within the input-size bound;
//! - a set that parses re-encodes (`to_json`) to strict JSON that parses to
//!   the same set;
//! - the key set holds each kid once, only kids of the document, in order;
//!   a kid published twice is unusable; every usable key is RSA of 2048 to
//!   8192 bits and agrees with `Jwk::to_rsa_key`; the cache serves exactly
//!   the usable keys;
//! - `RsaPublicKey::from_components` accepts only odd exponents >= 65537
//!   and moduli of 2048..=8192 bits, and reports the modulus's true size.
#![no_main]

use siwa_fuzz::prelude::*;
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache, KeyProblem, KeySet};
use siwa_kit::jws::{self, RsaPublicKey, Segment, MAX_RSA_BITS, MIN_RSA_BITS, MIN_RSA_EXPONENT};

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let set = fixtures::key_set();
            let mut seeds = vec![
                framed(0, &[set.to_json().as_bytes()], 0),
                framed(0, &[fixtures::APPLE_REAL_KEYS.as_bytes()], 0),
            ];
            for doc in [
                r#"{"keys":[]}"#,
                r#"{"keys":[{"kty":"RSA","kid":"a","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"}]}"#,
                r#"{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"},{"kty":"RSA"}]}"#,
                r#"{"keys":[{"kty":"RSA","kid":"d","key_ops":["sign"]},{"kty":"RSA","kid":"d"}]}"#,
            ] {
                seeds.push(framed(0, &[doc.as_bytes()], 0));
            }
            let mut rsa = set.keys[0].clone();
            let n = jws::decode_segment(rsa.n.as_deref().unwrap_or(""), Segment::Payload)
                .unwrap_or_default();
            let e = jws::decode_segment(rsa.e.as_deref().unwrap_or(""), Segment::Payload)
                .unwrap_or_default();
            seeds.push(framed(1, &[&n, &e], 0xff));
            rsa.e = Some("Aw".into());
            seeds.push(framed(0, &[JwkSet::new(vec![rsa]).to_json().as_bytes()], 0));
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        if mode & 1 == 1 {
            let (n, e) = siwa_fuzz::cut(rest, 0xff);
            rsa_components(n, e);
            return;
        }
        let parsed = bounded("JwkSet::from_json", rest.len(), bounds::JWKS, || JwkSet::from_json(rest));
        let Ok(set) = parsed else {
            return;
        };
        let json = set.to_json();
        jws::strict_json(json.as_bytes(), Segment::Payload).expect("to_json is strict JSON");
        assert_eq!(JwkSet::from_json(json.as_bytes()).as_ref(), Ok(&set), "{json}");

        let keys = bounded("KeySet::from_jwks", rest.len(), bounds::JWKS, || KeySet::from_jwks(&set));
        let published: Vec<&str> = set.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        let mut expected_kids: Vec<&str> = Vec::new();
        for kid in &published {
            if !expected_kids.contains(kid) {
                expected_kids.push(kid);
            }
        }
        assert_eq!(keys.kids(), expected_kids);
        for entry in keys.entries() {
            let jwks: Vec<&Jwk> = set.keys.iter().filter(|k| k.kid.as_deref() == Some(entry.kid())).collect();
            match entry.key() {
                Ok(key) => {
                    assert_eq!(jwks.len(), 1);
                    assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&key.bits()));
                    assert_eq!(jwks[0].to_rsa_key().map(|k| k.bits()), Ok(key.bits()));
                }
                Err(KeyProblem::DuplicateKid) => assert!(jwks.len() > 1),
                Err(problem) => {
                    assert_eq!(jwks.len(), 1);
                    assert_eq!(jwks[0].to_rsa_key().err().as_ref(), Some(problem));
                }
            }
            assert_eq!(keys.key(entry.kid()).is_ok(), entry.key().is_ok());
        }
        let cache = KeyCache::from_jwks(&set);
        assert_eq!(cache.kids(), keys.kids());
        for entry in keys.entries().iter().take(4) {
            let served = siwa_fuzz::block_on(cache.key(entry.kid()));
            assert_eq!(served.is_ok(), entry.key().is_ok());
            if let Err(e) = served {
                assert!(!e.hint().is_empty());
            }
        }
    }
);

/// Checks one RSA key's components against the documented limits.
fn rsa_components(n: &[u8], e: &[u8]) {
    let key = bounded(
        "RsaPublicKey::from_components",
        n.len() + e.len(),
        bounds::JWKS,
        || RsaPublicKey::from_components(n, e),
    );
    let via_jwk = Jwk::rsa("k", n, e).to_rsa_key();
    assert_eq!(
        key.as_ref().map(RsaPublicKey::bits).ok(),
        via_jwk.as_ref().map(RsaPublicKey::bits).ok()
    );
    let Ok(key) = key else {
        return;
    };
    let n = strip(n);
    let e = strip(e);
    let bits = (n.len() - 1) * 8 + (8 - n[0].leading_zeros() as usize);
    assert_eq!(key.bits(), bits);
    assert!((MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits));
    assert!(e.len() <= 8);
    let exponent = e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    assert!(
        exponent % 2 == 1 && exponent >= MIN_RSA_EXPONENT,
        "exponent {exponent}"
    );
}

fn strip(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}
