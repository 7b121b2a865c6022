//! The strict JSON pass of headers and payloads (`siwa_kit::jws::strict_json`):
//! duplicate members, depth, UTF-8 and lone surrogates, the RFC 8259 grammar.
//!
//! Invariants:
//! - nothing panics, and the heap used stays within the input-size bound;
//! - its verdict is the verdict of an independent checker (`json_ref`):
//!   accepted exactly when that accepts, refused for the same kind of
//!   problem, and a duplicate reported by a name the object does repeat;
//! - what it accepts it returns unchanged, and serde_json reads it too;
//! - the fast path accepts exactly what the checker accepts, with the same
//!   spans (`jws::fast_path_agrees`, the rule of `jws/strict_json.rs`).
#![no_main]

use siwa_fuzz::json_ref::{self, quoted_name, Verdict};
use siwa_fuzz::prelude::*;
use siwa_kit::jws::{self, JwsError, Segment, MAX_DEPTH};

fuzz_target!(
    init: {
        assert_eq!(MAX_DEPTH, json_ref::MAX_DEPTH);
        siwa_fuzz::seeds::write_from_env(|| {
            let mut seeds: Vec<Vec<u8>> = siwa_fuzz::fixtures::good_claims()
                .iter()
                .map(|c| c.to_string().into_bytes())
                .collect();
            for seed in [
                r#"{"kid":"FUZZKEYA01","alg":"RS256"}"#,
                r#"{"sub":"a","s\u0075b":"b"}"#,
                r#"{"x":{"k":1,"k":2}}"#,
                r#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
                r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","n":[0,-0,1.5,-2e10,3E+2]}"#,
                r#"{"a":"\ud800"}"#,
                r#" { "a" : true , "b" : false , "c" : null } "#,
            ] {
                seeds.push(seed.as_bytes().to_vec());
            }
            seeds
        });
    },
    |data: &[u8]| {
        let segment = if data.first().is_some_and(|b| b & 1 == 1) {
            Segment::Header
        } else {
            Segment::Payload
        };
        let ours = bounded("jws::strict_json", data.len(), bounds::JSON, || {
            jws::strict_json(data, segment)
        });
        if let Err(disagreement) = jws::fast_path_agrees(data) {
            panic!("{disagreement}");
        }
        let reference = json_ref::check(data);
        match (&ours, &reference) {
            (Ok(text), Verdict::Ok) => {
                assert_eq!(text.as_bytes(), data, "strict_json must return its input");
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(data) {
                    panic!("strict JSON that serde_json refuses: {e}");
                }
            }
            (Err(JwsError::Utf8 { segment: s, .. }), Verdict::Utf8)
            | (Err(JwsError::Json { segment: s, .. }), Verdict::Syntax)
            | (Err(JwsError::TooDeep { segment: s, .. }), Verdict::TooDeep)
            | (Err(JwsError::NotObject { segment: s }), Verdict::NotObject) => {
                assert_eq!(*s, segment);
            }
            (Err(JwsError::DuplicateMember { segment: s, name }), Verdict::Duplicate(names)) => {
                assert_eq!(*s, segment);
                assert!(
                    names.iter().any(|n| quoted_name(n) == *name),
                    "duplicate {name:?} reported, but the object repeats {:?}",
                    names.iter().map(|n| quoted_name(n)).collect::<Vec<_>>()
                );
            }
            _ => panic!("siwa-kit says {ours:?}, the reference checker {reference:?}"),
        }
        if let Err(e) = &ours {
            // Errors quote at most a member name cut at 64 characters.
            assert!(e.to_string().len() <= 512, "{e}");
        }
    }
);
