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

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use cpu_time::ThreadTime;
use criterion::Criterion;
use siwa_kit::claims::Nonce;
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::KeyCache;
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::Verifier;

use fixtures::{pem_der, Floor, Tokens, AUDIENCE, RAW_NONCE};

mod fixtures;

const NOW: u64 = 1_700_000_100;
const IAT: u64 = 1_700_000_000;

/// The tokens, keys and checkers every benchmark shares.
struct Setup {
    /// An identity token shaped like Apple's native ones (~950 bytes).
    token: String,
    notification: String,
    verifier: Verifier,
    /// The bare checks of the two tokens' signatures.
    token_floor: Floor,
    notification_floor: Floor,
    builder: ClientSecretBuilder,
    signing_key: SigningKey,
    ecdsa: EcdsaKeyPair,
    secret_input: Vec<u8>,
    cache: SecretCache,
    clock: FixedClock,
}

fn setup() -> Setup {
    let tokens = Tokens::new(IAT, IAT + 86_400);
    assert!(
        (900..=1000).contains(&tokens.id_token.len()),
        "an Apple-sized token, not {} bytes",
        tokens.id_token.len()
    );
    let clock = FixedClock(UnixTime::from_secs(NOW));
    let verifier = Verifier::new(
        Arc::new(KeyCache::from_jwks(&tokens.jwks)),
        [ClientId::new(AUDIENCE).expect("client id")],
    )
    .clock(Arc::new(clock));

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
        token_floor: Floor::of(&tokens.jwks, &tokens.id_token),
        notification_floor: Floor::of(&tokens.jwks, &tokens.notification),
        token: tokens.id_token,
        notification: tokens.notification,
        verifier,
        builder,
        signing_key,
        ecdsa,
        secret_input,
        cache,
        clock,
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
    // The native flow: the raw nonce arrives with each request.
    let policy = NoncePolicy::Sha256OfRaw(Nonce::new(RAW_NONCE));
    let claims =
        ready(s.verifier.verify_with_nonce(black_box(&s.token), &policy)).expect("token verifies");
    black_box(claims);
}

fn bare_verify(s: &Setup) {
    bare(&s.token_floor);
}

fn verify_notification(s: &Setup) {
    let notification = ready(s.verifier.verify_notification(black_box(&s.notification)))
        .expect("notification verifies");
    black_box(notification);
}

fn bare_verify_notification(s: &Setup) {
    bare(&s.notification_floor);
}

fn bare(floor: &Floor) {
    floor
        .key
        .verify_sig(black_box(&floor.signing_input), black_box(&floor.signature))
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
