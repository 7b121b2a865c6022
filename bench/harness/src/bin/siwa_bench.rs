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

use std::future::Future;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use siwa_kit::claims::Nonce;
use siwa_kit::clock::{Clock, SystemClock};
use siwa_kit::id_token::NoncePolicy;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::KeyCache;
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::{ClientSecretBuilder, SecretCache};
use siwa_kit::Verifier;

type Error = Box<dyn std::error::Error>;

/// The three RSA-2048 test keys of siwa-kit; the token is signed by the second
/// one in the set, as Apple's set holds several keys at a time.
const RSA_KEYS: [(&str, &str); 3] = [
    (
        "BenchKeyB1",
        include_str!("../../../../crates/siwa-kit/tests/fixtures/rsa2048_b.pem"),
    ),
    (
        "BenchKeyA2",
        include_str!("../../../../crates/siwa-kit/tests/fixtures/rsa2048_a.pem"),
    ),
    (
        "BenchKeyC3",
        include_str!("../../../../crates/siwa-kit/tests/fixtures/rsa2048_other.pem"),
    ),
];
const SIGNING_KID: usize = 1;
/// The throw-away demo .p8 committed in examples/.
const P8: &str = include_str!("../../../../examples/AuthKey_DEMOKEY001.p8");
const TEAM_ID: &str = "DEMOTEAM01";
const KEY_ID: &str = "DEMOKEY001";
const WEB_CLIENT: &str = "com.example.web";
const IOS_CLIENT: &str = "com.example.ios";
const ISSUER: &str = "https://appleid.apple.com";
/// The raw nonce an iOS app keeps; Apple's token carries its SHA-256 in hex.
const RAW_NONCE: &str = "bench-raw-nonce-5f2c0e7a9d1b4c3e8f6a";
const TOKEN_LIFE: u64 = 30 * 86_400;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["fixtures", dir] => fixtures(Path::new(dir)),
        ["run", op, implementation, secs, dir] => secs
            .parse::<f64>()
            .map_err(Error::from)
            .and_then(|secs| run(op, implementation, Budget::CpuSeconds(secs), Path::new(dir))),
        ["count", op, implementation, n, dir] => n
            .parse::<u64>()
            .map_err(Error::from)
            .and_then(|n| run(op, implementation, Budget::Count(n), Path::new(dir))),
        _ => Err(
            "usage: siwa-bench fixtures DIR | siwa-bench run OP IMPL SECONDS DIR | siwa-bench count OP IMPL N DIR"
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
    let mut jwks = Vec::new();
    let mut pairs = Vec::new();
    for (kid, pem) in RSA_KEYS {
        let pair = RsaKeyPair::from_pkcs8(&pem_der(pem)?).map_err(|e| format!("{kid}: {e}"))?;
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        jwks.push(json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
        }));
        pairs.push(pair);
    }
    let (kid, pair) = (RSA_KEYS[SIGNING_KID].0, &pairs[SIGNING_KID]);
    let nonce_hash =
        hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, RAW_NONCE.as_bytes()).as_ref());
    // The members and order of a native sign-in's token, as Apple sends them.
    let claims = format!(
        concat!(
            r#"{{"iss":"{iss}","aud":"{aud}","exp":{exp},"iat":{iat},"#,
            r#""sub":"001234.0f1e2d3c4b5a69788796a5b4c3d2e1f0.1234","nonce":"{nonce}","#,
            r#""c_hash":"4B6JY58Nk-UBlcwLkeKsig","email":"k7xq2mv9pd@privaterelay.appleid.com","#,
            r#""email_verified":true,"is_private_email":true,"auth_time":{iat},"#,
            r#""nonce_supported":true,"real_user_status":2}}"#
        ),
        iss = ISSUER,
        aud = IOS_CLIENT,
        exp = now + TOKEN_LIFE,
        iat = now,
        nonce = nonce_hash,
    );
    let id_token = sign_rs256(pair, kid, &claims)?;
    let events = json!({
        "type": "email-disabled",
        "sub": "001234.0f1e2d3c4b5a69788796a5b4c3d2e1f0.1234",
        "event_time": now * 1000,
        "email": "k7xq2mv9pd@privaterelay.appleid.com",
        "is_private_email": "true",
    })
    .to_string();
    let notification_claims = json!({
        "iss": ISSUER, "aud": IOS_CLIENT, "exp": now + TOKEN_LIFE, "iat": now,
        "jti": "B94OdD03pFsaYaN-Ftv7mA", "events": events,
    })
    .to_string();
    let notification = sign_rs256(pair, kid, &notification_claims)?;
    let p8_path = dir.join(format!("AuthKey_{KEY_ID}.p8"));
    std::fs::write(&p8_path, P8)?;
    let jwks = json!({ "keys": jwks });
    std::fs::write(dir.join("jwks.json"), jwks.to_string())?;
    let manifest = json!({
        "issuer": ISSUER,
        "audience": IOS_CLIENT,
        "nonce_raw": RAW_NONCE,
        "id_token": id_token,
        "id_token_bytes": id_token.len(),
        "notification": notification,
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
        id_token.len()
    );
    Ok(())
}

fn sign_rs256(pair: &RsaKeyPair, kid: &str, claims: &str) -> Result<String, Error> {
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
    .map_err(|e| format!("RSA sign: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn pem_der(pem: &str) -> Result<Vec<u8>, Error> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(STANDARD.decode(body.trim())?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    /// The floor of a token check: the key for its kid parsed once, then the
    /// bare RSA PKCS#1 v1.5 SHA-256 check of its signing input.
    fn rsa_floor(&self, token: &str) -> Result<(ParsedPublicKey, Vec<u8>, Vec<u8>), Error> {
        let jwks: Value = serde_json::from_slice(&self.jwks)?;
        let (input, signature) = token.rsplit_once('.').ok_or("token")?;
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(input.split('.').next().ok_or("token")?)?,
        )?;
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
            .ok_or("no key for the token's kid")?;
        let component = |name: &str| -> Result<Vec<u8>, Error> {
            Ok(URL_SAFE_NO_PAD.decode(jwk[name].as_str().ok_or("jwk")?)?)
        };
        let key = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: component("n")?,
            e: component("e")?,
        }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| format!("RSA key: {e}"))?;
        Ok((
            key,
            input.as_bytes().to_vec(),
            URL_SAFE_NO_PAD.decode(signature)?,
        ))
    }
}

fn run(op: &str, implementation: &str, secs: Budget, dir: &Path) -> Result<(), Error> {
    let f = Fixtures::load(dir)?;
    let ops = match (op, implementation) {
        ("verify_id_token", "siwa-kit") => {
            let verifier = f.verifier()?;
            let token = f.str("id_token")?.to_owned();
            let raw = f.str("nonce_raw")?.to_owned();
            measure(secs, || {
                // The native flow: the app sends the raw nonce with the token.
                let policy = NoncePolicy::Sha256OfRaw(Nonce::new(raw.clone()));
                let claims = ready(verifier.verify_with_nonce(black_box(&token), &policy))
                    .map_err(|e| format!("verify: {e}"))?;
                black_box(claims);
                Ok(())
            })?
        }
        ("verify_notification", "siwa-kit") => {
            let verifier = f.verifier()?;
            let token = f.str("notification")?.to_owned();
            measure(secs, || {
                let n = ready(verifier.verify_notification(black_box(&token)))
                    .map_err(|e| format!("verify: {e}"))?;
                black_box(n);
                Ok(())
            })?
        }
        ("verify_id_token" | "verify_notification", "aws-lc-rs") => {
            let token = f.str(if op == "verify_id_token" {
                "id_token"
            } else {
                "notification"
            })?;
            let (key, input, signature) = f.rsa_floor(token)?;
            measure(secs, || {
                key.verify_sig(black_box(&input), black_box(&signature))
                    .map_err(|e| format!("RSA verify: {e}").into())
            })?
        }
        ("sign_client_secret", "siwa-kit") => {
            let builder = f.builder()?;
            let key = f.signing_key()?;
            measure(secs, || {
                let secret = builder.sign(&key, SystemClock.now())?;
                black_box(secret);
                Ok(())
            })?
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
                &pem_der(&std::fs::read_to_string(f.path("p8_path")?)?)?,
            )
            .map_err(|e| format!("EC key: {e}"))?;
            let rng = SystemRandom::new();
            measure(secs, || {
                let signature = pair
                    .sign(&rng, black_box(&input))
                    .map_err(|e| format!("sign: {e}"))?;
                black_box(signature);
                Ok(())
            })?
        }
        ("secret_cache_hit", "siwa-kit") => {
            let cache = SecretCache::new(
                f.builder()?,
                Arc::new(f.signing_key()?),
                Arc::new(SystemClock),
            );
            cache.current()?;
            measure(secs, || {
                black_box(cache.current()?);
                Ok(())
            })?
        }
        _ => return Err(format!("no {implementation} for {op}").into()),
    };
    println!(
        "{}",
        json!({"op": op, "impl": implementation, "ops": ops.0, "cpu_s": ops.1})
    );
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
fn measure(budget: Budget, mut f: impl FnMut() -> Result<(), Error>) -> Result<(u64, f64), Error> {
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
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
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
