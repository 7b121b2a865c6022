//! Verifying one identity token with a warm key cache, next to the bare
//! RSA-2048 PKCS#1 v1.5 SHA-256 check of aws-lc-rs on the same signature,
//! then the ratio of their throughputs (goal: at least 0.90x).
//!
//! `cargo bench -p siwa-kit --bench verify -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cpu_time::ThreadTime;
use criterion::Criterion;
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache};
use siwa_kit::Verifier;

const NOW: u64 = 1_700_000_100;

/// A token shaped like Apple's native identity tokens, and what checks it.
struct Setup {
    token: String,
    verifier: Verifier,
    bare: ParsedPublicKey,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

fn setup() -> Setup {
    let pem = include_str!("../tests/fixtures/rsa2048_a.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).expect("fixture PEM");
    let pair = KeyPair::from_pkcs8(&der).expect("fixture key");
    let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());

    let header = r#"{"kid":"BENCHKEY01","alg":"RS256"}"#;
    let claims = r#"{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":1700086400,"iat":1700000000,"sub":"001234.0123456789abcdef0123456789abcdef.1234","nonce":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","c_hash":"4B6JY58Nk-UBlcwLkeKsig","email":"abcdef1234@privaterelay.appleid.com","email_verified":true,"is_private_email":true,"auth_time":1700000000,"nonce_supported":true,"real_user_status":2}"#;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&signature));

    let keys = KeyCache::from_jwks(&JwkSet::new(vec![Jwk::rsa(
        "BENCHKEY01",
        &public.n,
        &public.e,
    )]));
    let verifier = Verifier::new(
        Arc::new(keys),
        [ClientId::new("com.example.ios").expect("client id")],
    )
    .clock(Arc::new(FixedClock(UnixTime::from_secs(NOW))));
    let bare = public
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .expect("parse key");
    Setup {
        token,
        verifier,
        bare,
        signing_input: signing_input.into_bytes(),
        signature,
    }
}

/// Runs a future that must complete without waiting (a warm cache never does).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("verification with a warm cache waited"),
    }
}

fn verify_token(s: &Setup) {
    let claims = ready(s.verifier.verify(black_box(&s.token))).expect("token verifies");
    black_box(claims);
}

fn bare_verify(s: &Setup) {
    s.bare
        .verify_sig(black_box(&s.signing_input), black_box(&s.signature))
        .expect("signature verifies");
}

fn benches(c: &mut Criterion, s: &Setup) {
    let mut group = c.benchmark_group("rs256");
    group.bench_function("bare_aws_lc_rsa2048_verify", |b| b.iter(|| bare_verify(s)));
    group.bench_function("siwa_verify_identity_token", |b| b.iter(|| verify_token(s)));
    group.finish();
}

/// Throughput of both in operations per second of this thread's CPU time,
/// measured in alternating rounds so drift hits both alike. CPU time rather
/// than wall time: on a shared machine, other processes' load does not count.
fn ratio(s: &Setup, budget: Duration) -> (f64, f64) {
    const BATCH: u32 = 100;
    let rounds = 20;
    let per_round = budget / (2 * rounds);
    let (mut bare_ops, mut bare_time) = (0u64, Duration::ZERO);
    let (mut full_ops, mut full_time) = (0u64, Duration::ZERO);
    for _ in 0..rounds {
        let start = ThreadTime::now();
        while start.elapsed() < per_round {
            for _ in 0..BATCH {
                bare_verify(s);
            }
            bare_ops += u64::from(BATCH);
        }
        bare_time += start.elapsed();
        let start = ThreadTime::now();
        while start.elapsed() < per_round {
            for _ in 0..BATCH {
                verify_token(s);
            }
            full_ops += u64::from(BATCH);
        }
        full_time += start.elapsed();
    }
    (
        bare_ops as f64 / bare_time.as_secs_f64(),
        full_ops as f64 / full_time.as_secs_f64(),
    )
}

fn main() {
    let s = setup();
    verify_token(&s);
    bare_verify(&s);
    // For profilers (perf, callgrind): SIWA_BENCH_LOOP=verify:N or bare:N
    // runs N checks and exits.
    if let Ok(spec) = std::env::var("SIWA_BENCH_LOOP") {
        let (which, n) = spec.split_once(':').unwrap_or((&spec, "10000"));
        let n: u64 = n.parse().expect("SIWA_BENCH_LOOP=verify:N or bare:N");
        for _ in 0..n {
            if which == "bare" {
                bare_verify(&s);
            } else {
                verify_token(&s);
            }
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &s);
    criterion.final_summary();
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time")
    {
        return;
    }
    let (bare, full) = ratio(&s, Duration::from_secs(4));
    println!();
    println!("bare aws-lc-rs RSA-2048 verify : {bare:>10.0} ops per CPU-second");
    println!("siwa Verifier::verify (warm)   : {full:>10.0} ops per CPU-second");
    println!(
        "ratio: {:.3}x of the bare check's throughput (goal >= 0.90x)",
        full / bare
    );
}
