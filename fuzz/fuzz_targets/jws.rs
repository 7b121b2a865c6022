//! Compact JWS split and strict base64url (`siwa_kit::jws::split`,
//! `decode_segment`, `decode_segment_into`).
//!
//! Invariants:
//! - nothing panics; the heap used is at most the input's size plus a constant;
//! - `split` refuses exactly what is over `MAX_TOKEN_LEN` or has other than
//!   three segments, and its parts put back together are the token;
//! - a segment decodes exactly when the strict `base64` engine (URL-safe, no
//!   padding, no stray bits) decodes it, to the same bytes, and what decodes
//!   re-encodes to the same text (one accepted encoding per byte string);
//! - decoding into a buffer agrees with decoding into a `Vec`, and refuses a
//!   buffer one byte short.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use siwa_fuzz::prelude::*;
use siwa_kit::jws::{self, JwsError, Segment, MAX_TOKEN_LEN};

fuzz_target!(
    init: {
        siwa_fuzz::seeds::write_from_env(|| {
            siwa_fuzz::fixtures::good_tokens().iter().map(|t| t.as_bytes().to_vec()).collect()
        });
    },
    |data: &[u8]| {
        let token = siwa_fuzz::text(data);
        let token = token.as_ref();
        let split = bounded("jws::split + decode", token.len(), bounds::JWS, || {
            jws::split(token).map(|parts| {
                let decoded = [Segment::Header, Segment::Payload, Segment::Signature]
                    .map(|segment| parts.decode(segment));
                (parts, decoded)
            })
        });
        match split {
            Err(JwsError::TooLarge { len, max }) => {
                assert_eq!((len, max), (token.len(), MAX_TOKEN_LEN));
                assert!(token.len() > MAX_TOKEN_LEN);
            }
            Err(JwsError::SegmentCount { count }) => {
                assert!(token.len() <= MAX_TOKEN_LEN);
                assert_eq!(count, token.matches('.').count() + 1);
                assert_ne!(count, 3);
            }
            Err(other) => panic!("split failed with {other:?}"),
            Ok((parts, decoded)) => {
                assert!(token.len() <= MAX_TOKEN_LEN);
                let texts = [parts.header(), parts.payload(), parts.signature()];
                assert_eq!(texts.join("."), token);
                assert!(texts.iter().all(|t| !t.contains('.')));
                assert_eq!(
                    parts.signing_input(),
                    format!("{}.{}", texts[0], texts[1]).as_bytes()
                );
                let segments = [Segment::Header, Segment::Payload, Segment::Signature];
                for ((text, segment), result) in texts.into_iter().zip(segments).zip(decoded) {
                    check_segment(text, segment, result);
                }
            }
        }
        // Every dot-separated piece, whatever the count, as any segment.
        for (i, piece) in token.split('.').take(8).enumerate() {
            let segment = [Segment::Header, Segment::Payload, Segment::Signature][i % 3];
            let result = bounded("jws::decode_segment", piece.len(), bounds::JWS, || {
                jws::decode_segment(piece, segment)
            });
            check_segment(piece, segment, result);
        }
    }
);

fn check_segment(text: &str, segment: Segment, result: Result<Vec<u8>, JwsError>) {
    let reference = URL_SAFE_NO_PAD.decode(text);
    match (&result, &reference) {
        (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs, "{text:?}"),
        (Err(JwsError::Base64 { segment: named, .. }), Err(_)) => assert_eq!(*named, segment),
        _ => panic!("{text:?}: siwa-kit {result:?}, base64 {reference:?}"),
    }
    let mut buf = vec![0u8; text.len()];
    let into = jws::decode_segment_into(text, segment, &mut buf).map(<[u8]>::to_vec);
    match (&result, into) {
        (Ok(bytes), Ok(into)) => {
            assert_eq!(*bytes, into);
            assert_eq!(
                jws::encode(bytes),
                text,
                "a decoded segment must re-encode to itself"
            );
            assert_eq!(bytes.len(), text.len() * 3 / 4);
            if !bytes.is_empty() {
                let mut short = vec![0u8; bytes.len() - 1];
                assert!(
                    jws::decode_segment_into(text, segment, &mut short).is_err(),
                    "decoded into a buffer one byte short"
                );
            }
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("{text:?}: decode_segment {a:?}, decode_segment_into {b:?}"),
    }
}
