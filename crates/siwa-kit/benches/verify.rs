//! siwa-kit's hot paths next to the crypto they cannot avoid, in one binary
//! so the ratios come from one run:
//!
//! | group | siwa-kit | floor (aws-lc-rs, key parsed once) | goal |
//! | --- | --- | --- | --- |
//! | `id_token` | `Verifier::verify_with_nonce`, warm 3-key cache, every claim check | RSA-2048 PKCS#1 v1.5 SHA-256 verify of the same bytes | >= 0.90x |
//! | `client_secret` | `ClientSecretBuilder::sign`, key parsed once | ECDSA P-256 SHA-256 sign of a secret's signing input | >= 0.85x |
//! | `notification` | `Verifier::verify_notification` | RSA-2048 verify of the same bytes | |
//! | `secret_cache` | `SecretCache::current` while fresh (an atomic load) | | |
//!
//! After criterion's figures it prints each pair's throughput in operations
//! per CPU-second of this thread, measured in alternating rounds, and the
//! ratio. bench/compare.sh measures the same against other libraries.
//!
//! `cargo bench -p siwa-kit --bench verify -- --warm-up-time 1 --measurement-time 3`
//!
//! For profilers (perf, callgrind): `SIWA_BENCH_LOOP=WHAT:N` runs N operations
//! and exits; WHAT is verify, bare, notification, bare-notification, sign,
//! bare-sign or cache.
#![allow(clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::signature::{
    EcdsaKeyPair, ParsedPublicKey, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cpu_time::ThreadTime;
use criterion::Criterion;
use siwa_kit::claims::Nonce;
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache};
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::Verifier;

const NOW: u64 = 1_700_000_100;
const IAT: u64 = 1_700_000_000;
/// The raw nonce an iOS app keeps; the token carries its SHA-256 in hex.
const RAW_NONCE: &str = "bench-raw-nonce-5f2c0e7a9d1b4c3e8f6a";

/// The tokens, keys and checkers every benchmark shares.
struct Setup {
    /// An identity token shaped like Apple's native ones (~950 bytes).
    token: String,
    notification: String,
    verifier: Verifier,
    /// The token's signing input and signature, for the floor.
    bare: ParsedPublicKey,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    notification_input: Vec<u8>,
    notification_signature: Vec<u8>,
    builder: ClientSecretBuilder,
    signing_key: SigningKey,
    ecdsa: EcdsaKeyPair,
    secret_input: Vec<u8>,
    cache: SecretCache,
    clock: FixedClock,
}

fn setup() -> Setup {
    // Apple publishes several keys at a time; the token names the middle one.
    let pairs: Vec<(&str, KeyPair)> = [
        (
            "BenchKeyB1",
            include_str!("../tests/fixtures/rsa2048_b.pem"),
        ),
        (
            "BenchKeyA2",
            include_str!("../tests/fixtures/rsa2048_a.pem"),
        ),
        (
            "BenchKeyC3",
            include_str!("../tests/fixtures/rsa2048_other.pem"),
        ),
    ]
    .into_iter()
    .map(|(kid, pem)| {
        (
            kid,
            KeyPair::from_pkcs8(&pem_der(pem)).expect("fixture key"),
        )
    })
    .collect();
    let jwks = JwkSet::new(
        pairs
            .iter()
            .map(|(kid, pair)| {
                let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                Jwk::rsa(*kid, &public.n, &public.e)
            })
            .collect(),
    );
    let (kid, pair) = (pairs[1].0, &pairs[1].1);
    let nonce = hex(digest(&SHA256, RAW_NONCE.as_bytes()).as_ref());
    let claims = format!(
        concat!(
            r#"{{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":{exp},"iat":{iat},"#,
            r#""sub":"001234.0f1e2d3c4b5a69788796a5b4c3d2e1f0.1234","nonce":"{nonce}","#,
            r#""c_hash":"4B6JY58Nk-UBlcwLkeKsig","email":"k7xq2mv9pd@privaterelay.appleid.com","#,
            r#""email_verified":true,"is_private_email":true,"auth_time":{iat},"#,
            r#""nonce_supported":true,"real_user_status":2}}"#
        ),
        exp = IAT + 86_400,
        iat = IAT,
        nonce = nonce,
    );
    let (token, signing_input, signature) = sign_rs256(pair, kid, &claims);
    assert!(
        (900..=1000).contains(&token.len()),
        "an Apple-sized token, not {} bytes",
        token.len()
    );
    let events = r#"{\"type\":\"email-disabled\",\"sub\":\"001234.0f1e2d3c4b5a69788796a5b4c3d2e1f0.1234\",\"event_time\":1700000000000,\"email\":\"k7xq2mv9pd@privaterelay.appleid.com\",\"is_private_email\":\"true\"}"#;
    let notification_claims = format!(
        r#"{{"iss":"https://appleid.apple.com","aud":"com.example.ios","exp":{exp},"iat":{IAT},"jti":"B94OdD03pFsaYaN-Ftv7mA","events":"{events}"}}"#,
        exp = IAT + 86_400,
    );
    let (notification, notification_input, notification_signature) =
        sign_rs256(pair, kid, &notification_claims);

    let clock = FixedClock(UnixTime::from_secs(NOW));
    let verifier = Verifier::new(
        Arc::new(KeyCache::from_jwks(&jwks)),
        [ClientId::new("com.example.ios").expect("client id")],
    )
    .clock(Arc::new(clock));
    let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let bare = public
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .expect("parse key");

    let p8 = include_str!("../tests/fixtures/AuthKey_ABC123DEFG.p8");
    let builder = ClientSecretBuilder::new(
        TeamId::new("DEF123GHIJ").expect("team id"),
        KeyId::new("ABC123DEFG").expect("key id"),
        ClientId::new("com.example.web").expect("client id"),
    )
    .ttl_secs(3_600)
    .expect("ttl");
    let signing_key = SigningKey::from_pem(p8).expect("p8");
    let secret = builder.sign(&signing_key, clock.0).expect("client secret");
    let secret_input = secret
        .secret()
        .rsplit_once('.')
        .expect("three segments")
        .0
        .as_bytes()
        .to_vec();
    let ecdsa = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pem_der(p8))
        .expect("p8 for the floor");
    let cache = SecretCache::new(
        builder.clone(),
        Arc::new(SigningKey::from_pem(p8).expect("p8")),
        Arc::new(clock),
    );
    Setup {
        token,
        notification,
        verifier,
        bare,
        signing_input,
        signature,
        notification_input,
        notification_signature,
        builder,
        signing_key,
        ecdsa,
        secret_input,
        cache,
        clock,
    }
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (token, signing input, signature) of an RS256 token with Apple's header.
fn sign_rs256(pair: &KeyPair, kid: &str, claims: &str) -> (String, Vec<u8>, Vec<u8>) {
    let header = format!(r#"{{"kid":"{kid}","alg":"RS256"}}"#);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&signature));
    (token, input.into_bytes(), signature)
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
    // The native flow: the raw nonce arrives with each request.
    let policy = NoncePolicy::Sha256OfRaw(Nonce::new(RAW_NONCE));
    let claims =
        ready(s.verifier.verify_with_nonce(black_box(&s.token), &policy)).expect("token verifies");
    black_box(claims);
}

fn bare_verify(s: &Setup) {
    s.bare
        .verify_sig(black_box(&s.signing_input), black_box(&s.signature))
        .expect("signature verifies");
}

fn verify_notification(s: &Setup) {
    let notification = ready(s.verifier.verify_notification(black_box(&s.notification)))
        .expect("notification verifies");
    black_box(notification);
}

fn bare_verify_notification(s: &Setup) {
    s.bare
        .verify_sig(
            black_box(&s.notification_input),
            black_box(&s.notification_signature),
        )
        .expect("signature verifies");
}

fn sign_secret(s: &Setup) {
    let secret = s
        .builder
        .sign(&s.signing_key, black_box(s.clock.0))
        .expect("client secret");
    black_box(secret);
}

fn bare_sign(s: &Setup) {
    let signature = s
        .ecdsa
        .sign(&SystemRandom::new(), black_box(&s.secret_input))
        .expect("ECDSA sign");
    black_box(signature);
}

fn cache_hit(s: &Setup) {
    black_box(s.cache.current().expect("fresh secret"));
}

type Op = fn(&Setup);

/// (name for SIWA_BENCH_LOOP, criterion group, criterion id, function).
const OPS: [(&str, &str, &str, Op); 7] = [
    (
        "bare",
        "id_token",
        "floor_aws_lc_rsa2048_verify",
        bare_verify,
    ),
    (
        "verify",
        "id_token",
        "siwa_verify_identity_token",
        verify_token,
    ),
    (
        "bare-notification",
        "notification",
        "floor_aws_lc_rsa2048_verify",
        bare_verify_notification,
    ),
    (
        "notification",
        "notification",
        "siwa_verify_notification",
        verify_notification,
    ),
    (
        "bare-sign",
        "client_secret",
        "floor_aws_lc_ecdsa_p256_sign",
        bare_sign,
    ),
    (
        "sign",
        "client_secret",
        "siwa_sign_client_secret",
        sign_secret,
    ),
    ("cache", "secret_cache", "siwa_secret_cache_hit", cache_hit),
];

/// Pairs whose throughputs are compared: (what, floor, ours, goal).
const PAIRS: [(&str, &str, &str, Option<f64>); 3] = [
    (
        "identity token verify / bare RSA-2048 verify",
        "bare",
        "verify",
        Some(0.90),
    ),
    (
        "notification verify / bare RSA-2048 verify",
        "bare-notification",
        "notification",
        None,
    ),
    (
        "client_secret sign / bare ECDSA P-256 sign",
        "bare-sign",
        "sign",
        Some(0.85),
    ),
];

fn op(name: &str) -> Op {
    OPS.iter()
        .find(|(n, ..)| *n == name)
        .map(|(.., f)| *f)
        .unwrap_or_else(|| panic!("no operation {name}"))
}

fn benches(c: &mut Criterion, s: &Setup) {
    for group_name in ["id_token", "client_secret", "notification", "secret_cache"] {
        let mut group = c.benchmark_group(group_name);
        for (_, _, id, f) in OPS.iter().filter(|(_, g, ..)| *g == group_name) {
            group.bench_function(*id, |b| b.iter(|| f(s)));
        }
        group.finish();
    }
}

/// Throughput of `a` and `b` in operations per second of this thread's CPU
/// time, measured in alternating rounds so drift hits both alike. CPU time
/// rather than wall time: on a shared machine, other processes' load does not
/// count.
fn throughputs(s: &Setup, a: Op, b: Op, budget: Duration) -> (f64, f64) {
    const BATCH: u32 = 50;
    let rounds = 20;
    let per_round = budget / (2 * rounds);
    let mut ops = [0u64; 2];
    let mut time = [Duration::ZERO; 2];
    for _ in 0..rounds {
        for (i, f) in [a, b].into_iter().enumerate() {
            let start = ThreadTime::now();
            while start.elapsed() < per_round {
                for _ in 0..BATCH {
                    f(s);
                }
                ops[i] += u64::from(BATCH);
            }
            time[i] += start.elapsed();
        }
    }
    (
        ops[0] as f64 / time[0].as_secs_f64(),
        ops[1] as f64 / time[1].as_secs_f64(),
    )
}

fn main() {
    let s = setup();
    for (.., f) in OPS {
        f(&s);
    }
    if let Ok(spec) = std::env::var("SIWA_BENCH_LOOP") {
        let (which, n) = spec.split_once(':').unwrap_or((&spec, "10000"));
        let n: u64 = n.parse().expect("SIWA_BENCH_LOOP=WHAT:N");
        let f = op(which);
        for _ in 0..n {
            f(&s);
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
    println!();
    println!("Operations per CPU-second, alternating rounds:");
    for (what, floor, ours, goal) in PAIRS {
        let (bare, full) = throughputs(&s, op(floor), op(ours), Duration::from_secs(4));
        let verdict = match goal {
            Some(goal) if full / bare >= goal => format!(" (goal >= {goal:.2}x: met)"),
            Some(goal) => format!(" (goal >= {goal:.2}x: NOT met)"),
            None => String::new(),
        };
        println!(
            "  {what:46} {full:>9.0} / {bare:>9.0} = {:.3}x{verdict}",
            full / bare
        );
    }
    let (hit, sign) = throughputs(&s, op("cache"), op("sign"), Duration::from_secs(2));
    println!(
        "  {:46} {hit:>9.0} ({:.0} ns; {:.0}x a new signature)",
        "client_secret from SecretCache (hit)",
        1e9 / hit,
        hit / sign
    );
}
