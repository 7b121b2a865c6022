//! One measurement per process, for bench/compare.py.
//!
//! `siwa-bench fixtures DIR` writes the shared fixtures (a 3-key JWKS, an
//! Apple-shaped identity token of ~950 bytes, a notification, the client
//! secret's parameters) that every implementation reads.
//!
//! `siwa-bench run OP IMPL SECONDS DIR` runs OP with IMPL until SECONDS of
//! process CPU time have been spent (after a short warm-up) and prints one
//! JSON line: `{"op","impl","ops","cpu_s"}`. OP is one of `verify_id_token`,
//! `sign_client_secret`, `secret_cache_hit`, `verify_notification`; IMPL is
//! `siwa-kit` or `aws-lc-rs` (the floor: the bare signature operation of the
//! same bytes with a key parsed once).
//!
//! `siwa-bench pair OP SECONDS DIR` runs OP with siwa-kit and with the floor
//! in one process, in alternating slices, and prints both CPU times:
//! `{"op","ops","siwa_cpu_s","floor_cpu_s"}` (the ratio that the machine's
//! drift does not move).

use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use siwa_kit::claims::Nonce;
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::{JwkSet, KeyCache};
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::Verifier;

use fixtures::{pem_der, Floor, Tokens, AUDIENCE, ISSUER, RAW_NONCE};

/// The fixtures siwa-kit's criterion bench signs too.
#[path = "../../../../crates/siwa-kit/benches/fixtures/mod.rs"]
mod fixtures;

type Error = Box<dyn std::error::Error>;

/// The throw-away demo .p8 committed in examples/.
const P8: &str = include_str!("../../../../examples/AuthKey_DEMOKEY001.p8");
const TEAM_ID: &str = "DEMOTEAM01";
const KEY_ID: &str = "DEMOKEY001";
const WEB_CLIENT: &str = "com.example.web";
const TOKEN_LIFE: u64 = 30 * 86_400;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["fixtures", dir] => fixtures(Path::new(dir)),
        ["run", op, implementation, secs, dir] => secs
            .parse::<f64>()
            .map_err(Error::from)
            .and_then(|secs| run(op, implementation, Budget::CpuSeconds(secs), Path::new(dir))),
        ["pair", op, secs, dir] => secs
            .parse::<f64>()
            .map_err(Error::from)
            .and_then(|secs| pair(op, secs, Path::new(dir))),
        ["count", op, implementation, n, dir] => n
            .parse::<u64>()
            .map_err(Error::from)
            .and_then(|n| run(op, implementation, Budget::Count(n), Path::new(dir))),
        _ => Err(
            "usage: siwa-bench fixtures DIR | siwa-bench run OP IMPL SECONDS DIR | siwa-bench pair OP SECONDS DIR | siwa-bench count OP IMPL N DIR"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("siwa-bench: {e}");
        std::process::exit(2);
    }
}

// ---------------------------------------------------------------- fixtures

fn fixtures(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)?;
    let now = SystemClock.now().secs();
    let tokens = Tokens::new(now, now + TOKEN_LIFE);
    let p8_path = dir.join(format!("AuthKey_{KEY_ID}.p8"));
    std::fs::write(&p8_path, P8)?;
    std::fs::write(dir.join("jwks.json"), tokens.jwks.to_json())?;
    let manifest = json!({
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "nonce_raw": RAW_NONCE,
        "id_token": tokens.id_token,
        "id_token_bytes": tokens.id_token.len(),
        "notification": tokens.notification,
        "jwks_path": dir.join("jwks.json"),
        "team_id": TEAM_ID,
        "key_id": KEY_ID,
        "client_id": WEB_CLIENT,
        "p8_path": p8_path,
        "secret_ttl": 3600,
        "made_at": now,
    });
    std::fs::write(
        dir.join("fixtures.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    println!(
        "fixtures in {} (identity token {} bytes)",
        dir.display(),
        tokens.id_token.len()
    );
    Ok(())
}

// ---------------------------------------------------------------- runs

struct Fixtures {
    manifest: Value,
    jwks: Vec<u8>,
}

impl Fixtures {
    fn load(dir: &Path) -> Result<Self, Error> {
        Ok(Self {
            manifest: serde_json::from_slice(&std::fs::read(dir.join("fixtures.json"))?)?,
            jwks: std::fs::read(dir.join("jwks.json"))?,
        })
    }

    fn str(&self, name: &str) -> Result<&str, Error> {
        self.manifest[name]
            .as_str()
            .ok_or_else(|| format!("fixtures.json has no {name}").into())
    }

    fn path(&self, name: &str) -> Result<PathBuf, Error> {
        self.str(name).map(PathBuf::from)
    }

    fn verifier(&self) -> Result<Verifier, Error> {
        let keys = Arc::new(KeyCache::from_json(&self.jwks)?);
        Ok(
            Verifier::new(keys, [ClientId::new(self.str("audience")?)?])
                .issuer(self.str("issuer")?),
        )
    }

    fn builder(&self) -> Result<ClientSecretBuilder, Error> {
        let ttl = self.manifest["secret_ttl"].as_u64().unwrap_or(3600);
        Ok(ClientSecretBuilder::new(
            TeamId::new(self.str("team_id")?)?,
            KeyId::new(self.str("key_id")?)?,
            ClientId::new(self.str("client_id")?)?,
        )
        .ttl_secs(ttl)?)
    }

    fn signing_key(&self) -> Result<SigningKey, Error> {
        Ok(SigningKey::from_pem(&std::fs::read_to_string(
            self.path("p8_path")?,
        )?)?)
    }

    /// The token OP verifies: the identity token, or the notification.
    fn token_of(&self, op: &str) -> Result<&str, Error> {
        self.str(if op == "verify_id_token" {
            "id_token"
        } else {
            "notification"
        })
    }

    /// The floor of a token check: the key for its kid parsed once, then the
    /// bare RSA PKCS#1 v1.5 SHA-256 check of its signing input.
    fn rsa_floor(&self, token: &str) -> Result<Floor, Error> {
        Ok(Floor::of(&JwkSet::from_json(&self.jwks)?, token))
    }
}

/// One operation, ready to be called again and again.
type Operation = Box<dyn FnMut() -> Result<(), Error>>;

/// OP as IMPL does it, with everything it reads (key set, token, nonce,
/// signing key) prepared once: what is measured is the operation itself.
fn operation(op: &str, implementation: &str, f: &Fixtures) -> Result<Operation, Error> {
    Ok(match (op, implementation) {
        ("verify_id_token", "siwa-kit") => {
            let verifier = f.verifier()?;
            let token = f.str("id_token")?.to_owned();
            // The native flow: the app sends the raw nonce with the token,
            // and the verifier compares the token's nonce with its SHA-256 on
            // every call. The nonce is an input built once, like the token
            // (the peers, too, read a constant raw nonce).
            let policy = NoncePolicy::Sha256OfRaw(Nonce::new(f.str("nonce_raw")?.to_owned()));
            Box::new(move || {
                let claims = ready(verifier.verify_with_nonce(black_box(&token), &policy))
                    .map_err(|e| format!("verify: {e}"))?;
                black_box(claims);
                Ok(())
            })
        }
        ("verify_notification", "siwa-kit") => {
            let verifier = f.verifier()?;
            let token = f.str("notification")?.to_owned();
            Box::new(move || {
                let n = ready(verifier.verify_notification(black_box(&token)))
                    .map_err(|e| format!("verify: {e}"))?;
                black_box(n);
                Ok(())
            })
        }
        ("verify_id_token" | "verify_notification", "aws-lc-rs") => {
            let token = f.token_of(op)?;
            let floor = f.rsa_floor(token)?;
            Box::new(move || {
                floor
                    .key
                    .verify_sig(black_box(&floor.signing_input), black_box(&floor.signature))
                    .map_err(|e| format!("RSA verify: {e}").into())
            })
        }
        ("verify_id_token" | "verify_notification", "aws-lc-rs-digest") => {
            // The same check through aws-lc-rs's digest API (the signing
            // input hashed in one call, then the digest checked), the way
            // siwa-kit calls it: informational, beside the floor.
            let token = f.token_of(op)?;
            let floor = f.rsa_floor(token)?;
            Box::new(move || {
                let digest = digest::digest(&digest::SHA256, black_box(&floor.signing_input));
                floor
                    .key
                    .verify_digest_sig(&digest, black_box(&floor.signature))
                    .map_err(|e| format!("RSA verify: {e}").into())
            })
        }
        ("sign_client_secret", "siwa-kit") => {
            let builder = f.builder()?;
            let key = f.signing_key()?;
            Box::new(move || {
                let secret = builder.sign(&key, SystemClock.now())?;
                black_box(secret);
                Ok(())
            })
        }
        ("sign_client_secret", "aws-lc-rs") => {
            // The same header and claims a client secret signs, with the key
            // parsed once: the bare ECDSA P-256 SHA-256 signature.
            let builder = f.builder()?;
            let key = f.signing_key()?;
            let secret = builder.sign(&key, SystemClock.now())?;
            let input = secret
                .secret()
                .rsplit_once('.')
                .map(|(input, _)| input.as_bytes().to_vec())
                .ok_or("secret")?;
            let pair = EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &pem_der(&std::fs::read_to_string(f.path("p8_path")?)?),
            )
            .map_err(|e| format!("EC key: {e}"))?;
            let rng = SystemRandom::new();
            Box::new(move || {
                let signature = pair
                    .sign(&rng, black_box(&input))
                    .map_err(|e| format!("sign: {e}"))?;
                black_box(signature);
                Ok(())
            })
        }
        ("secret_cache_hit", "siwa-kit") => {
            let cache = SecretCache::new(
                f.builder()?,
                Arc::new(f.signing_key()?),
                Arc::new(SystemClock),
            );
            cache.current()?;
            Box::new(move || {
                black_box(cache.current()?);
                Ok(())
            })
        }
        _ => return Err(format!("no {implementation} for {op}").into()),
    })
}

fn run(op: &str, implementation: &str, budget: Budget, dir: &Path) -> Result<(), Error> {
    let f = Fixtures::load(dir)?;
    let (ops, cpu_s) = measure(budget, operation(op, implementation, &f)?)?;
    println!(
        "{}",
        json!({"op": op, "impl": implementation, "ops": ops, "cpu_s": cpu_s})
    );
    Ok(())
}

/// Operations per slice of a paired run: about a millisecond of RSA work,
/// short enough that the machine's speed cannot drift within a pair of slices.
const PAIR_SLICE: u64 = 64;

/// siwa-kit and the floor of OP in one process, alternating slices of
/// [`PAIR_SLICE`] operations until each has spent `secs` CPU seconds (after
/// a warm-up of both). On a shared machine the speed of a process moves by
/// several percent from one run to the next; both sides of a pair see the
/// same machine, so their ratio holds still where separate runs' do not.
fn pair(op: &str, secs: f64, dir: &Path) -> Result<(), Error> {
    let f = Fixtures::load(dir)?;
    let mut ours = operation(op, "siwa-kit", &f)?;
    let mut floor = operation(op, "aws-lc-rs", &f)?;
    // Where siwa-kit calls aws-lc-rs another way than the floor does, that
    // way too, as a third side (reported, not judged).
    let mut digest_floor = operation(op, "aws-lc-rs-digest", &f).ok();
    let slice = |g: &mut Operation| -> Result<f64, Error> {
        let start = thread_cpu_time();
        for _ in 0..PAIR_SLICE {
            g()?;
        }
        Ok(thread_cpu_time() - start)
    };
    let warm_up_end = thread_cpu_time() + (secs / 10.0).min(0.5);
    while thread_cpu_time() < warm_up_end {
        slice(&mut ours)?;
        slice(&mut floor)?;
        if let Some(g) = digest_floor.as_mut() {
            slice(g)?;
        }
    }
    let (mut ours_s, mut floor_s, mut digest_s, mut ops) = (0.0, 0.0, 0.0, 0u64);
    while ours_s < secs || floor_s < secs {
        ours_s += slice(&mut ours)?;
        floor_s += slice(&mut floor)?;
        if let Some(g) = digest_floor.as_mut() {
            digest_s += slice(g)?;
        }
        ops += PAIR_SLICE;
    }
    let mut out = json!({"op": op, "ops": ops, "siwa_cpu_s": ours_s, "floor_cpu_s": floor_s});
    if digest_floor.is_some() {
        out["digest_floor_cpu_s"] = json!(digest_s);
    }
    println!("{out}");
    Ok(())
}

/// How long a run lasts.
#[derive(Clone, Copy)]
enum Budget {
    /// A warm-up, then this much process CPU time.
    CpuSeconds(f64),
    /// One call, then exactly this many operations (for instruction counts:
    /// `valgrind --tool=callgrind`, N and 0, the difference over N).
    Count(u64),
}

/// Runs `f` as the budget says. Returns (operations, CPU seconds) of the
/// measured part.
fn measure(budget: Budget, mut f: Operation) -> Result<(u64, f64), Error> {
    const BATCH: u64 = 32;
    let secs = match budget {
        Budget::CpuSeconds(secs) => secs,
        Budget::Count(n) => {
            // One call first, in every run: one-time costs (the random
            // generator's seeding on the first signature) then cancel out.
            f()?;
            let start = cpu_time();
            for _ in 0..n {
                f()?;
            }
            return Ok((n, cpu_time() - start));
        }
    };
    let warm_up_end = cpu_time() + (secs / 10.0).min(0.5);
    while cpu_time() < warm_up_end {
        for _ in 0..BATCH {
            f()?;
        }
    }
    let start = cpu_time();
    let mut ops = 0u64;
    loop {
        for _ in 0..BATCH {
            f()?;
        }
        ops += BATCH;
        let spent = cpu_time() - start;
        if spent >= secs {
            return Ok((ops, spent));
        }
    }
}

/// CPU time of this process (all threads), user and system, in seconds.
fn cpu_time() -> f64 {
    clock_seconds(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread, user and system, in seconds.
fn thread_cpu_time() -> f64 {
    clock_seconds(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_seconds(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Runs a future that completes without waiting (a warm key cache never waits).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            return out;
        }
    }
}
