//! Shared helpers: test keys (tests/fixtures, see README.md there), signing
//! tokens with aws-lc-rs, the test vectors (tests/vectors, see README.md
//! there), a verifier pinned in time.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::ids::ClientId;
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache};
use siwa_kit::Verifier;

pub(crate) const APPLE: &str = "https://appleid.apple.com";
/// The Services ID (web flow).
pub(crate) const WEB: &str = "com.example.web";
/// A bundle ID (native flow).
pub(crate) const IOS: &str = "com.example.ios";
/// The verifiers' pinned time.
pub(crate) const NOW: u64 = 1_700_000_100;
pub(crate) const SUB: &str = "001234.0123456789abcdef0123456789abcdef.1234";

/// A fixture RSA key that signs test tokens.
pub(crate) struct TestKey {
    pair: KeyPair,
    pub(crate) kid: &'static str,
    pub(crate) n: Vec<u8>,
    pub(crate) e: Vec<u8>,
}

impl TestKey {
    fn load(file: &str, kid: &'static str) -> Self {
        let pem = std::fs::read_to_string(fixture(file)).expect("fixture key");
        let pair = KeyPair::from_pkcs8(&pem_body(&pem)).expect("PKCS#8 RSA key");
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        Self {
            pair,
            kid,
            n: public.n,
            e: public.e,
        }
    }

    /// Its JWK as Apple publishes one.
    pub(crate) fn jwk(&self) -> Jwk {
        Jwk::rsa(self.kid, &self.n, &self.e)
    }

    /// An RS256 signature of `input`.
    pub(crate) fn sign_bytes(&self, input: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input,
                &mut signature,
            )
            .expect("sign");
        signature
    }

    /// A compact JWS of these exact header and payload bytes.
    pub(crate) fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// A token with Apple's header (`kid`, `alg`) and these claims.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_raw(header(self.kid).as_bytes(), claims.to_string().as_bytes())
    }
}

/// "Apple's current key" (kid `TESTKEYA01`).
pub(crate) fn key_a() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::load("rsa2048_a.pem", "TESTKEYA01"))
}

/// The key rotated in (kid `TESTKEYB02`).
pub(crate) fn key_b() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::load("rsa2048_b.pem", "TESTKEYB02"))
}

/// A key in no set; it claims key A's kid.
pub(crate) fn key_other() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::load("rsa2048_other.pem", "TESTKEYA01"))
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub(crate) fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body")
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn hex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Apple's header: `{"kid":..,"alg":"RS256"}`, no `typ`.
pub(crate) fn header(kid: &str) -> String {
    json!({"kid": kid, "alg": "RS256"}).to_string()
}

/// Claims shaped like a native identity token, valid at [`NOW`] for [`IOS`].
pub(crate) fn claims() -> Value {
    json!({
        "iss": APPLE,
        "aud": IOS,
        "exp": NOW + 86_300,
        "iat": NOW - 100,
        "sub": SUB,
        "c_hash": "4B6JY58Nk-UBlcwLkeKsig",
        "email": "abcdef1234@privaterelay.appleid.com",
        "email_verified": "true",
        "is_private_email": "true",
        "auth_time": NOW - 100,
        "nonce_supported": true,
        "real_user_status": 2
    })
}

/// [`claims`] with some members replaced (a `null` value removes the member).
pub(crate) fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    let map = claims.as_object_mut().expect("object");
    for (name, value) in changes.as_object().expect("object") {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// A fixed set holding these keys.
pub(crate) fn keys_of(keys: &[&TestKey]) -> Arc<KeyCache> {
    Arc::new(KeyCache::from_jwks(&JwkSet::new(
        keys.iter().map(|k| k.jwk()).collect(),
    )))
}

/// A verifier of [`WEB`] and [`IOS`] tokens with key A, pinned at [`NOW`].
pub(crate) fn verifier() -> Verifier {
    verifier_with(keys_of(&[key_a()]))
}

pub(crate) fn verifier_with(keys: Arc<KeyCache>) -> Verifier {
    Verifier::new(keys, [client(WEB), client(IOS)])
        .clock(Arc::new(FixedClock(UnixTime::from_secs(NOW))))
}

pub(crate) fn client(id: &str) -> ClientId {
    ClientId::new(id).expect("client id")
}

/// Runs a future on a fresh current-thread runtime.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A file of tests/vectors (where each comes from: the SOURCES.md of its
/// folder), read whole. A missing or unreadable vector fails the test with
/// its path: the vectors are part of the repository, never optional.
pub(crate) fn read_vector(name: &str) -> Vec<u8> {
    let path = vector_path(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test vector {} is missing or unreadable ({e}); the vectors belong to \
             the repository, see crates/siwa-kit/tests/vectors/README.md",
            path.display()
        )
    })
}

/// A JSON file of tests/vectors, as [`read_vector`].
pub(crate) fn read_json(name: &str) -> Value {
    serde_json::from_slice(&read_vector(name)).unwrap_or_else(|e| {
        panic!(
            "test vector {} is not JSON: {e}",
            vector_path(name).display()
        )
    })
}

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors")).join(name)
}
