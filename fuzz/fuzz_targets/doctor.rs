//! The `invalid_client` doctor: `siwa_kit::doctor::Doctor::examine` on any
//! client_secret and any `now` (both are user input: `siwa doctor [JWT] --now`).
//!
//! Input: a mode byte, 8 bytes of `now` when the mode says so, then
//! - mode 0: the secret as text;
//! - mode 1: header JSON, 0, payload JSON: signed here with the `.p8`
//!   fixture (ES256, raw r || s), so the signature checks pass and the claim
//!   checks are reached with a valid signature;
//! - mode 2: header JSON, 0, payload JSON, 0, signature bytes.
//!
//! Invariants:
//! - nothing panics, for any token and any `now`; the heap stays within the
//!   input-size bound;
//! - the report holds the 11 checks of the contract, in contract order;
//!   `ok` is true exactly when no check failed; a check that fails or warns
//!   says what to do;
//! - the report never contains the secret or its signature;
//! - a secret signed here with the expected key passes `signature.verify`
//!   (and `signature.encoding`) whatever its claims.
#![no_main]

use siwa_fuzz::fixtures::{b64, KEY_ID, NOW, P8_PUB, TEAM_ID, WEB};
use siwa_fuzz::prelude::*;
use siwa_kit::clock::UnixTime;
use siwa_kit::doctor::{CheckId, Doctor, ExpectedKey, Status};
use siwa_kit::ids::KeyId;
use siwa_kit::jws::{self, Segment};
use siwa_kit::p8::PublicKey;

const ORDER: [CheckId; 11] = [
    CheckId::Format,
    CheckId::HeaderAlg,
    CheckId::HeaderKid,
    CheckId::PayloadIss,
    CheckId::PayloadIat,
    CheckId::PayloadExp,
    CheckId::PayloadAud,
    CheckId::PayloadSub,
    CheckId::PayloadClaims,
    CheckId::SignatureEncoding,
    CheckId::SignatureVerify,
];

fn doctor() -> &'static Doctor {
    static DOCTOR: std::sync::OnceLock<Doctor> = std::sync::OnceLock::new();
    DOCTOR.get_or_init(|| {
        let key = PublicKey::from_pem(P8_PUB).expect("the fixture's public key");
        Doctor::new()
            .team_id(TEAM_ID)
            .key_id(KEY_ID)
            .client_id(WEB)
            .key(ExpectedKey::new(
                key,
                "AuthKey_ABC123DEFG.p8",
                KeyId::new(KEY_ID).ok(),
            ))
    })
}

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let secret = fixtures::client_secret(WEB, NOW);
            let parts = jws::split(&secret).expect("a secret");
            let header = parts.decode(Segment::Header).expect("header");
            let payload = parts.decode(Segment::Payload).expect("payload");
            let signature = parts.decode(Segment::Signature).expect("signature");
            let mut seeds = vec![
                framed(0, &[secret.as_bytes()], 0),
                framed(1, &[&header, &payload], 0),
                framed(2, &[&header, &payload, &signature], 0),
                framed(0, &[b"a.b.c.d.e"], 0),
                framed(1, &[br#"{"alg":"HS256","kid":"abc123defg"}"#, br#"{"iss":"com.example.web","iat":"1700000000","exp":1700000000000,"aud":"appleid.apple.com/","sub":"DEF123GHIJ.com.example.web"}"#], 0),
                framed(1, &[br#"{"alg":"ES256","kid":"ABC123DEFG"}"#, br#"{"iss":"DEF123GHIJ","iat":1700000000.5,"exp":-1,"aud":["https://appleid.apple.com"],"sub":"COM.EXAMPLE.WEB","extra":1}"#], 0),
            ];
            let mut with_now = vec![4u8];
            with_now.extend_from_slice(&u64::MAX.to_le_bytes());
            with_now.extend_from_slice(secret.as_bytes());
            seeds.push(with_now);
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let (now, rest) = if mode & 4 != 0 && rest.len() >= 8 {
            let (now, rest) = rest.split_at(8);
            (u64::from_le_bytes(now.try_into().expect("8 bytes")), rest)
        } else {
            (NOW, rest)
        };
        // The token, whether it was signed here, and its decoded claims (where known).
        let (token, signed_here, claims) = match mode & 3 {
            1 => {
                let (header, payload) = siwa_fuzz::cut(rest, 0);
                let input = format!("{}.{}", b64(header), b64(payload));
                let signature = fixtures::p8_key().sign_es256(input.as_bytes()).expect("ES256");
                (format!("{input}.{}", b64(signature)), true, Some(rest))
            }
            2 => {
                let (header, tail) = siwa_fuzz::cut(rest, 0);
                let (payload, signature) = siwa_fuzz::cut(tail, 0);
                let token = format!("{}.{}.{}", b64(header), b64(payload), b64(signature));
                (token, false, Some(rest))
            }
            _ => (siwa_fuzz::text(rest).into_owned(), false, None),
        };
        let report = bounded("Doctor::examine", token.len(), bounds::DOCTOR, || {
            doctor().examine(&token, UnixTime::from_secs(now))
        });
        let ids: Vec<CheckId> = report.checks.iter().map(|c| c.id).collect();
        assert_eq!(ids, ORDER, "the checks of the contract, in order");
        assert_eq!(report.ok, report.checks.iter().all(|c| c.status != Status::Fail));
        for check in &report.checks {
            if matches!(check.status, Status::Fail | Status::Warn) {
                assert!(!check.hint.is_empty(), "{:?} without a hint", check.id);
            }
            assert!(!check.message.is_empty());
        }
        // Never the secret, never its signature (unless a claim holds its text).
        let trimmed = token.trim();
        let signature = match claims {
            Some(claims) if !String::from_utf8_lossy(claims).contains(trimmed.rsplit('.').next().unwrap_or_default()) => {
                trimmed.rsplit('.').next().unwrap_or_default()
            }
            _ => "",
        };
        for check in &report.checks {
            for text in [&check.message, &check.hint] {
                if trimmed.len() >= 24 && jwt_shaped(trimmed) {
                    assert!(!text.contains(trimmed), "{:?} quotes the secret", check.id);
                }
                if signature.len() >= 24 {
                    assert!(!text.contains(signature), "{:?} quotes the signature", check.id);
                }
            }
        }
        serde_json::to_string(&report).expect("the report serializes");
        if signed_here && report.check(CheckId::Format).is_some_and(|c| c.status == Status::Pass) {
            for id in [CheckId::SignatureEncoding, CheckId::SignatureVerify] {
                let check = report.check(id).expect("ran");
                assert_eq!(check.status, Status::Pass, "{id:?}: {}", check.message);
            }
        }
    }
);

/// Three non-empty base64url segments: a text that no sentence of the
/// report holds unless it quotes the secret (the fuzzer soon learns to pass
/// the report's own sentences as the "secret").
fn jwt_shaped(text: &str) -> bool {
    let segments: Vec<&str> = text.split('.').collect();
    segments.len() == 3
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
