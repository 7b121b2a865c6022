//! Identity token verification end to end: `siwa_kit::Verifier` over a
//! `KeyCache::from_jwks` of a fixed key set, at a fixed clock.
//!
//! Input: a mode byte, then
//! - mode 0: the token as text;
//! - mode 1: header JSON, 0, payload JSON, 0, signature bytes, base64url-encoded
//!   here, so the fuzzer mutates JSON rather than base64.
//!
//! The nonce policy comes from the mode byte's upper bits.
//!
//! Invariants:
//! - nothing panics; the heap stays within the input-size bound;
//! - no token verifies unless it is byte for byte one of the known-good tokens
//!   (signed here by the fixture keys, and the corpus's first seeds); a forged,
//!   altered or re-encoded token never does;
//! - a token that verifies re-encodes to itself: each segment is the
//!   canonical base64url of its bytes;
//! - errors are bounded in size and come with a hint.
#![no_main]

use siwa_fuzz::fixtures::{b64, RAW_NONCE};
use siwa_fuzz::prelude::*;
use siwa_kit::claims::Nonce;
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::jws::{self, Segment};

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            let mut seeds = Vec::new();
            for token in fixtures::good_tokens() {
                seeds.push(framed(0, &[token.as_bytes()], 0));
                let parts = jws::split(token).expect("a good token");
                let decoded = [Segment::Header, Segment::Payload, Segment::Signature]
                    .map(|s| parts.decode(s).expect("canonical"));
                seeds.push(framed(1, &[&decoded[0], &decoded[1], &decoded[2]], 0));
            }
            seeds
        });
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let token = if mode & 1 == 0 {
            siwa_fuzz::text(rest).into_owned()
        } else {
            let (header, rest) = siwa_fuzz::cut(rest, 0);
            let (payload, signature) = siwa_fuzz::cut(rest, 0);
            format!("{}.{}.{}", b64(header), b64(payload), b64(signature))
        };
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
            Ok(claims) => {
                assert!(
                    fixtures::is_known_good(&token),
                    "a token that is not a known-good seed verified: {token}"
                );
                let parts = jws::split(&token).expect("it verified");
                for (text, segment) in [
                    (parts.header(), Segment::Header),
                    (parts.payload(), Segment::Payload),
                    (parts.signature(), Segment::Signature),
                ] {
                    let bytes = parts.decode(segment).expect("it verified");
                    assert_eq!(jws::encode(&bytes), text, "a verified segment re-encodes to itself");
                }
                assert_eq!(
                    claims.raw_json().as_bytes(),
                    parts.decode(Segment::Payload).expect("it verified")
                );
            }
            Err(e) => {
                assert!(!e.hint().is_empty());
                let message = e.to_string();
                assert!(message.len() <= 8 * 1024, "an error of {} bytes", message.len());
                // Keys are fixed: no error may claim Apple is unreachable.
                assert!(!e.is_unavailable(), "{e}");
            }
        }
    }
);
