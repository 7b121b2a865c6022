//! Header and claims past the signature: the fuzzed JSON is signed with the
//! fixture key A (whose kid is in the verifier's key set), so every input
//! reaches `siwa_kit::claims` parsing and the claim checks of the `Verifier`.
//!
//! Input: a mode byte, then
//! - mode even: the payload (the header is Apple's, for key A);
//! - mode odd: header JSON, a 0 byte, payload JSON.
//!
//! The nonce policy comes from the mode byte too.
//!
//! Invariants (besides no panic and the heap bound):
//! - what verifies holds exactly the claims an independent parse
//!   (serde_json) reads from the signed payload: `iss` is Apple's, `sub` is
//!   a non-empty string, `aud`/`azp` name accepted client ids, `exp`, `iat`,
//!   `nbf` pass at the fixed clock, `email`, the two flags (string or bool),
//!   `real_user_status`, the nonce under the policy;
//! - `raw_json()` is the signed payload, byte for byte;
//! - the normalised JSON of the claims re-reads to the same values;
//! - `Debug` of the claims never shows the nonce.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use siwa_fuzz::alloc::{bounded, Bound};
use siwa_fuzz::fixtures::{self, key_a, APPLE, IOS, NOW, RAW_NONCE, WEB};
use siwa_fuzz::seeds::framed;
use siwa_kit::claims::Nonce;
use siwa_kit::id_token::{NoncePolicy, DEFAULT_LEEWAY_SECS};
use siwa_kit::Claims;

const BOUND: Bound = Bound {
    per_byte: 64,
    constant: 64 * 1024,
};

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let header = fixtures::header(key_a().kid);
            let mut seeds = Vec::new();
            for (i, claims) in fixtures::good_claims().iter().enumerate() {
                let payload = claims.to_string();
                seeds.push(framed(2 * i as u8, &[payload.as_bytes()], 0));
                seeds.push(framed(2 * i as u8 + 1, &[header.as_bytes(), payload.as_bytes()], 0));
            }
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let (header, payload) = if mode & 1 == 0 {
            (fixtures::header(key_a().kid).into_bytes(), rest)
        } else {
            let (h, p) = siwa_fuzz::cut(rest, 0);
            (h.to_vec(), p)
        };
        let token = key_a().sign_raw(&header, payload);
        let policy = match (mode >> 1) % 3 {
            0 => NoncePolicy::Unchecked,
            1 => NoncePolicy::Exact(Nonce::new("web-nonce-1")),
            _ => NoncePolicy::Sha256OfRaw(Nonce::new(RAW_NONCE)),
        };
        let verifier = fixtures::verifier();
        let result = bounded("Verifier::verify_with_nonce", token.len(), BOUND, || {
            siwa_fuzz::block_on(verifier.verify_with_nonce(&token, &policy))
        });
        match result {
            Ok(claims) => check_claims(&claims, payload, &policy),
            Err(e) => {
                assert!(!e.hint().is_empty());
                let message = e.to_string();
                assert!(message.len() <= 8 * 1024, "an error of {} bytes", message.len());
            }
        }
    }
);

fn check_claims(claims: &Claims, payload: &[u8], policy: &NoncePolicy) {
    assert_eq!(claims.raw_json().as_bytes(), payload);
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        // serde_json refuses numbers beyond f64 that strict JSON allows.
        return;
    };
    assert_eq!(v["iss"], APPLE);
    assert_eq!(claims.issuer(), APPLE);
    assert_eq!(v["sub"].as_str(), Some(claims.sub()));
    assert!(!claims.sub().is_empty());
    let accepted = |s: &str| s == WEB || s == IOS;
    let aud: Vec<&str> = match &v["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many
            .iter()
            .map(|a| a.as_str().expect("aud holds strings"))
            .collect(),
        other => panic!("verified with aud {other}"),
    };
    assert!(
        !aud.is_empty() && aud.iter().all(|a| accepted(a)),
        "aud {aud:?}"
    );
    assert_eq!(claims.audiences(), aud.as_slice());
    match v.get("azp") {
        Some(azp) => {
            let azp = azp.as_str().expect("azp is a string");
            assert!(aud.contains(&azp));
            assert_eq!(claims.audience(), azp);
        }
        None => {
            assert_eq!(aud.len(), 1, "several audiences and no azp");
            assert_eq!(claims.audience(), aud[0]);
        }
    }
    let leeway = DEFAULT_LEEWAY_SECS;
    let exp = v["exp"].as_u64().expect("exp is an integer");
    let iat = v["iat"].as_u64().expect("iat is an integer");
    assert_eq!(claims.expires_at().secs(), exp);
    assert_eq!(claims.issued_at().secs(), iat);
    assert!(NOW < exp.saturating_add(leeway), "expired: exp {exp}");
    assert!(iat <= NOW + leeway, "iat {iat} in the future");
    if let Some(nbf) = v.get("nbf") {
        let nbf = nbf.as_u64().expect("nbf is an integer");
        assert!(nbf <= NOW + leeway, "nbf {nbf} in the future");
    }
    assert_eq!(
        claims.auth_time().map(|t| t.secs()),
        v.get("auth_time")
            .map(|t| t.as_u64().expect("auth_time is an integer"))
    );
    assert_eq!(
        claims.email(),
        v.get("email")
            .map(|e| e.as_str().expect("email is a string"))
    );
    assert_eq!(claims.email_verified(), flag(&v, "email_verified"));
    assert_eq!(claims.is_private_email(), flag(&v, "is_private_email"));
    assert_eq!(claims.nonce_supported(), flag(&v, "nonce_supported"));
    assert_eq!(
        claims.real_user_status().map(|s| u64::from(s.code())),
        v.get("real_user_status")
            .map(|s| s.as_u64().expect("an integer"))
    );
    for (name, value) in [
        ("at_hash", claims.at_hash()),
        ("c_hash", claims.c_hash()),
        ("transfer_sub", claims.transfer_sub()),
    ] {
        assert_eq!(
            value,
            v.get(name).map(|s| s.as_str().expect("a string")),
            "{name}"
        );
    }
    let nonce = v
        .get("nonce")
        .map(|n| n.as_str().expect("nonce is a string"));
    assert_eq!(claims.nonce().map(Nonce::secret), nonce);
    match policy {
        NoncePolicy::Unchecked => {}
        NoncePolicy::Exact(expected) => assert_eq!(nonce, Some(expected.secret())),
        NoncePolicy::Sha256OfRaw(_) => {
            let found = nonce.expect("a nonce").to_ascii_lowercase();
            assert_eq!(found, fixtures::hashed_nonce());
        }
        _ => unreachable!(),
    }
    if nonce.is_some() {
        let debug = format!("{claims:?}");
        assert!(
            debug.contains("nonce: Some(Nonce([redacted]))"),
            "Debug shows the nonce: {debug}"
        );
    }
    // The normalised form re-reads to the same claims.
    let normal = serde_json::to_value(claims).expect("claims serialize");
    assert_eq!(normal["sub"], v["sub"]);
    assert_eq!(normal["iss"], v["iss"]);
    assert_eq!(normal["exp"], exp);
    assert_eq!(normal["iat"], iat);
    assert_eq!(normal.get("email"), v.get("email"));
    match (&normal["aud"], aud.as_slice()) {
        (Value::String(one), [only]) => assert_eq!(one, only),
        (Value::Array(many), _) => assert_eq!(many.len(), aud.len()),
        (other, _) => panic!("normalised aud {other}"),
    }
}

/// A flag as Apple sends it: a boolean or the string "true"/"false".
fn flag(v: &Value, name: &str) -> Option<bool> {
    match v.get(name)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        other => panic!("verified with {name} = {other}"),
    }
}
