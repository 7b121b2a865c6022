//! Known-answer and edge-case vectors for RS256, through the code path the
//! verifier uses: the group's JWK parsed by `KeySet` (as a fetched key set
//! is), the key looked up by kid, and `jws::verify_rs256`.
//!
//! - Wycheproof `rsa_signature_{2048,3072,4096}_sha256_test.json`
//!   (C2SP/wycheproof, tests/vectors/wycheproof/SOURCES.md): `valid` must
//!   verify, `invalid` must not; `acceptable` (DigestInfo without NULL) is
//!   recorded, not judged. Groups with e = 3 are refused when the key is
//!   loaded (our policy: e >= 65537), and counted as such.
//! - RFC 7515 A.2 and RFC 7520 4.1 (tests/vectors/rfc/SOURCES.md).

use serde_json::Value;
use siwa_kit::jwks::{Jwk, JwkSet, KeyLookupError, KeyProblem, KeySet};
use siwa_kit::jws::{self, JwsError, RsaKeyError, Segment};

use crate::support::{hex, read_json};

#[derive(Debug, Default)]
struct Tally {
    valid_accepted: usize,
    invalid_rejected: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    refused_small_exponent: usize,
}

/// Runs a Wycheproof file of tests/vectors.
fn run_rsa_file(name: &str, bits: usize) -> Tally {
    let file = read_json(name);
    assert_eq!(file["algorithm"], "RSASSA-PKCS1-v1_5");
    let mut tally = Tally::default();
    for group in file["testGroups"].as_array().expect("groups") {
        let jwk: Jwk = serde_json::from_value(group["keyJwk"].clone()).expect("keyJwk");
        let keys = KeySet::from_jwks(&JwkSet::new(vec![jwk]));
        let tests = group["tests"].as_array().expect("tests");
        let key = match keys.key("none") {
            Ok(key) => key,
            Err(KeyLookupError::Unusable {
                problem: KeyProblem::Rsa(RsaKeyError::Exponent { .. }),
                ..
            }) => {
                assert_eq!(group["publicKey"]["publicExponent"], "03");
                tally.refused_small_exponent += tests.len();
                continue;
            }
            Err(e) => panic!("{name}: group key refused: {e}"),
        };
        assert_eq!(key.bits(), bits);
        for test in tests {
            let id = &test["tcId"];
            let msg = hex(test["msg"].as_str().unwrap());
            let sig = hex(test["sig"].as_str().unwrap());
            let verdict = jws::verify_rs256(&key, &msg, &sig);
            match test["result"].as_str().unwrap() {
                "valid" => {
                    assert_eq!(verdict, Ok(()), "tcId {id} {}", test["comment"]);
                    tally.valid_accepted += 1;
                }
                "invalid" => {
                    assert_eq!(
                        verdict,
                        Err(JwsError::BadSignature),
                        "tcId {id} {}",
                        test["comment"]
                    );
                    tally.invalid_rejected += 1;
                }
                _ => {
                    if verdict.is_ok() {
                        tally.acceptable_accepted += 1;
                    } else {
                        tally.acceptable_rejected += 1;
                    }
                }
            }
        }
    }
    println!("{name}: {tally:?}");
    tally
}

#[test]
fn wycheproof_rsa_pkcs1_sha256_2048() {
    let tally = run_rsa_file("wycheproof/rsa_signature_2048_sha256_test.json", 2048);
    // 9 valid / 1 acceptable / 249 invalid upstream; 2 valid ones use e = 3.
    assert_eq!(tally.valid_accepted, 7);
    assert_eq!(tally.refused_small_exponent, 2);
    assert_eq!(tally.invalid_rejected, 249);
    assert_eq!(tally.acceptable_accepted + tally.acceptable_rejected, 1);
}

#[test]
fn wycheproof_rsa_pkcs1_sha256_3072() {
    let tally = run_rsa_file("wycheproof/rsa_signature_3072_sha256_test.json", 3072);
    // 8 valid / 1 acceptable / 250 invalid upstream; 1 valid one uses e = 3.
    assert_eq!(tally.valid_accepted, 7);
    assert_eq!(tally.refused_small_exponent, 1);
    assert_eq!(tally.invalid_rejected, 250);
    assert_eq!(tally.acceptable_accepted + tally.acceptable_rejected, 1);
}

#[test]
fn wycheproof_rsa_pkcs1_sha256_4096() {
    let tally = run_rsa_file("wycheproof/rsa_signature_4096_sha256_test.json", 4096);
    // 7 valid / 1 acceptable / 250 invalid upstream; no group uses e = 3.
    assert_eq!(tally.valid_accepted, 7);
    assert_eq!(tally.refused_small_exponent, 0);
    assert_eq!(tally.invalid_rejected, 250);
    assert_eq!(tally.acceptable_accepted + tally.acceptable_rejected, 1);
}

/// A compact RS256 JWS checked by the verifier's primitives: strict split,
/// the key from a parsed set, the signature over `header.payload`.
fn verify_compact(compact: &str, jwk: Value) -> Result<(), JwsError> {
    let jwk: Jwk = serde_json::from_value(jwk).expect("jwk");
    let kid = jwk.kid.clone().unwrap_or_else(|| "k".into());
    let jwk = Jwk::rsa(
        &kid,
        &jws::decode_segment(jwk.n.as_deref().unwrap(), Segment::Payload)?,
        &jws::decode_segment(jwk.e.as_deref().unwrap(), Segment::Payload)?,
    );
    let keys = KeySet::from_jwks(&JwkSet::new(vec![jwk]));
    let key = keys.key(&kid).expect("usable key");
    let parts = jws::split(compact)?;
    let signature = parts.decode(Segment::Signature)?;
    jws::verify_rs256(&key, parts.signing_input(), &signature)
}

#[test]
fn rfc7515_a2_rs256_known_answer() {
    let vector = &read_json("rfc/rfc7515_appendix_a.json")["A.2_RS256"];
    let compact = vector["compact"].as_str().unwrap();
    assert_eq!(
        verify_compact(compact, vector["jwk_public"].clone()),
        Ok(())
    );
    let mut tampered = compact.to_owned();
    tampered.replace_range(40..41, if &compact[40..41] == "A" { "B" } else { "A" });
    assert!(verify_compact(&tampered, vector["jwk_public"].clone()).is_err());
}

#[test]
fn rfc7520_4_1_rs256_known_answer() {
    let vector = read_json("rfc/rfc7520/4_1.rsa_v15_signature.json");
    let compact = vector["output"]["compact"].as_str().unwrap();
    assert_eq!(
        verify_compact(compact, vector["input"]["key"].clone()),
        Ok(())
    );
}
