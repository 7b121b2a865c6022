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
//! - times are judged by value (RFC 7519 NumericDate: a fraction or an
//!   exponent is allowed): a reference reading of each time's text, exact and
//!   rounded up to the whole second (`numeric_date` below), gives the times
//!   kept, and every time verdict: what verifies is within the leeway, and a
//!   token refused as expired, issued in the future, not yet valid, or for a
//!   time out of range is so by that reading;
//! - `raw_json()` is the signed payload, byte for byte;
//! - the normalised JSON of the claims re-reads to the same values;
//! - `Debug` of the claims never shows the nonce.
#![no_main]

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;
use siwa_fuzz::fixtures::{key_a, APPLE, IOS, NOW, RAW_NONCE, WEB};
use siwa_fuzz::prelude::*;
use siwa_kit::claims::{ClaimError, Nonce};
use siwa_kit::id_token::{NoncePolicy, VerifyError, DEFAULT_LEEWAY_SECS};
use siwa_kit::Claims;

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
            // NumericDates with a fraction or an exponent, at the edges of the leeway.
            let iss_aud_sub = format!(r#""iss":"{APPLE}","aud":"{WEB}","sub":"s""#);
            for times in [
                format!(r#""exp":{}.5,"iat":{}.25"#, NOW - 60, NOW + 59),
                format!(r#""exp":{}.5,"iat":{}.5,"nbf":{}.000000000000000000001"#, NOW - 61, NOW + 60, NOW + 60),
                format!(r#""exp":1.7e10,"iat":17E8,"auth_time":1700000000.0,"nbf":-0.0"#),
                format!(r#""exp":1e20,"iat":-1.5"#),
            ] {
                seeds.push(framed(0, &[format!("{{{iss_aud_sub},{times}}}").as_bytes()], 0));
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
        let result = bounded("Verifier::verify_with_nonce", token.len(), bounds::TOKEN, || {
            siwa_fuzz::block_on(verifier.verify_with_nonce(&token, &policy))
        });
        match result {
            Ok(claims) => check_claims(&claims, payload, &policy),
            Err(e) => {
                assert!(!e.hint().is_empty());
                let message = e.to_string();
                assert!(message.len() <= 8 * 1024, "an error of {} bytes", message.len());
                check_time_refusal(&e, payload);
            }
        }
    }
);

/// RFC 7519 NumericDate as the verifier must judge it: the exact value of
/// the JSON number `text`, rounded up to the whole second; `None` for what
/// is not a number, is below zero, or rounds up past `u64::MAX`. Written
/// apart from siwa-kit's reading (which works in place with checked u64
/// arithmetic): here the decimal point is moved in a string of digits,
/// padded with zeros, and the whole part is read as a u128.
fn numeric_date(text: &str) -> Option<u64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let e = &unsigned[at + 1..];
            let digits = e.trim_start_matches(['+', '-']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let huge = if e.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            };
            (&unsigned[..at], e.parse::<i64>().unwrap_or(huge))
        }
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty()
        || (mantissa.contains('.') && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits = format!("{int}{frac}");
    // Beyond this many places either way, the value is too large for u64
    // or below one (and above zero unless every digit is zero).
    let reach = digits.len() as i64 + 40;
    let mut point = int.len() as i64 + exponent.clamp(-reach, reach);
    if point < 0 {
        digits.insert_str(0, &"0".repeat(point.unsigned_abs() as usize));
        point = 0;
    }
    let point = point as usize;
    if point > digits.len() {
        digits.push_str(&"0".repeat(point - digits.len()));
    }
    let (whole, fraction) = digits.split_at(point);
    let whole = whole.trim_start_matches('0');
    let rest = fraction.bytes().any(|b| b != b'0');
    if whole.is_empty() && !rest {
        return Some(0);
    }
    if negative || whole.len() > 20 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    u64::try_from(whole + u128::from(rest)).ok()
}

/// The payload's members as written (strict JSON: no name twice).
fn members(payload: &[u8]) -> Option<BTreeMap<String, &RawValue>> {
    serde_json::from_slice(payload).ok()
}

/// A refusal for a time is one the reference reading makes too.
fn check_time_refusal(e: &VerifyError, payload: &[u8]) {
    let Some(members) = members(payload) else {
        return;
    };
    let time = |name: &str| {
        let raw = members
            .get(name)
            .unwrap_or_else(|| panic!("{e:?} without {name}"));
        (raw.get(), numeric_date(raw.get()))
    };
    let leeway = DEFAULT_LEEWAY_SECS;
    match e {
        VerifyError::Expired {
            exp,
            now,
            leeway: l,
        } => {
            assert_eq!((now.secs(), *l), (NOW, leeway));
            let (text, reference) = time("exp");
            assert_eq!(reference, Some(exp.secs()), "exp {text}");
            assert!(
                NOW >= exp.secs().saturating_add(leeway),
                "exp {text} refused as expired"
            );
        }
        VerifyError::IssuedInFuture { iat, .. } => {
            let (text, reference) = time("iat");
            assert_eq!(reference, Some(iat.secs()), "iat {text}");
            assert!(
                iat.secs() > NOW + leeway,
                "iat {text} refused as in the future"
            );
        }
        VerifyError::NotYetValid { nbf, .. } => {
            let (text, reference) = time("nbf");
            assert_eq!(reference, Some(nbf.secs()), "nbf {text}");
            assert!(
                nbf.secs() > NOW + leeway,
                "nbf {text} refused as not yet valid"
            );
        }
        VerifyError::Claim(ClaimError::Value { claim, .. })
            if ["exp", "iat", "nbf", "auth_time"].contains(claim) =>
        {
            let (text, reference) = time(claim);
            assert_eq!(reference, None, "{claim} {text} refused as out of range");
            assert!(
                text.starts_with(|c: char| c == '-' || c.is_ascii_digit()),
                "{claim} {text}"
            );
        }
        _ => {}
    }
}

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
    let members = members(payload).expect("a verified payload is an object");
    let time = |name: &str| {
        members.get(name).map(|raw| {
            numeric_date(raw.get()).unwrap_or_else(|| panic!("verified with {name} {}", raw.get()))
        })
    };
    let exp = time("exp").expect("exp is there");
    let iat = time("iat").expect("iat is there");
    assert_eq!(claims.expires_at().secs(), exp);
    assert_eq!(claims.issued_at().secs(), iat);
    assert!(NOW < exp.saturating_add(leeway), "expired: exp {exp}");
    assert!(iat <= NOW + leeway, "iat {iat} in the future");
    if let Some(nbf) = time("nbf") {
        assert!(nbf <= NOW + leeway, "nbf {nbf} in the future");
    }
    assert_eq!(claims.auth_time().map(|t| t.secs()), time("auth_time"));
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
