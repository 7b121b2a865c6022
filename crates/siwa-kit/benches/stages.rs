//! The stages of a verification besides the RSA check, one by one, on an
//! Apple-sized token: splitting at the dots, decoding the payload and the
//! signature, and the strict JSON check of the payload. For finding where
//! the verifier's overhead over the bare RSA check goes (see `verify`).
//!
//! `cargo bench -p siwa-kit --bench stages -- --warm-up-time 1 --measurement-time 2`
#![allow(clippy::expect_used)]

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::Criterion;
use siwa_kit::jws::{self, Segment};

/// The claims of an Apple native identity token (about 500 bytes).
const CLAIMS: &str = concat!(
    r#"{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":1700086400,"#,
    r#""iat":1700000000,"sub":"001234.0f1e2d3c4b5a69788796a5b4c3d2e1f0.1234","#,
    r#""nonce":"2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e","#,
    r#""c_hash":"4B6JY58Nk-UBlcwLkeKsig","email":"k7xq2mv9pd@privaterelay.appleid.com","#,
    r#""email_verified":true,"is_private_email":true,"auth_time":1700000000,"#,
    r#""nonce_supported":true,"real_user_status":2}"#
);

fn main() {
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"kid":"BenchKeyA2","alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(CLAIMS),
        URL_SAFE_NO_PAD.encode([7u8; 256]),
    );
    let parts = jws::split(&token).expect("three segments");
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("split", |b| {
        b.iter(|| black_box(jws::split(black_box(&token)).expect("three segments")))
    });
    c.bench_function("decode_payload", |b| {
        b.iter(|| black_box(parts.decode(Segment::Payload).expect("payload")))
    });
    c.bench_function("decode_signature", |b| {
        b.iter(|| black_box(parts.decode(Segment::Signature).expect("signature")))
    });
    c.bench_function("strict_json_payload", |b| {
        b.iter(|| {
            black_box(
                jws::strict_json(black_box(CLAIMS.as_bytes()), Segment::Payload).expect("JSON"),
            )
        })
    });
    c.final_summary();
}
