//! Fixed inputs of the targets: the test keys of crates/siwa-kit/tests/fixtures
//! (throw-away keys, see the README there), the verifier's fixed key set and
//! clock, and the identity tokens known to be good.
//!
//! RSA PKCS#1 v1.5 signatures are deterministic, so the known-good tokens are
//! the same bytes on every run and can be seeds of the corpus.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use siwa_kit::clock::{FixedClock, UnixTime};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::jwks::{Jwk, JwkSet, KeyCache};
use siwa_kit::p8::SigningKey;
use siwa_kit::secret::ClientSecretBuilder;
use siwa_kit::Verifier;

/// The fixed clock of every verifier here.
pub const NOW: u64 = 1_700_000_100;
/// Apple's issuer.
pub const APPLE: &str = "https://appleid.apple.com";
/// The Services ID (web flow), an accepted audience.
pub const WEB: &str = "com.example.web";
/// A bundle ID (native flow), an accepted audience.
pub const IOS: &str = "com.example.ios";
/// The user of the good tokens.
pub const SUB: &str = "001234.0123456789abcdef0123456789abcdef.1234";
/// The raw nonce whose SHA-256 (hex) some good tokens carry.
pub const RAW_NONCE: &str = "fuzz-raw-nonce-0123456789";
/// The Team ID and Key ID of the `.p8` fixture.
pub const TEAM_ID: &str = "DEF123GHIJ";
/// See [`TEAM_ID`].
pub const KEY_ID: &str = "ABC123DEFG";

/// Apple's `.p8` shape: PKCS#8 PEM of a P-256 key.
pub const P8: &str = include_str!("../../crates/siwa-kit/tests/fixtures/AuthKey_ABC123DEFG.p8");
/// Its public half.
pub const P8_PUB: &str =
    include_str!("../../crates/siwa-kit/tests/fixtures/AuthKey_ABC123DEFG.pub.pem");
/// Another P-256 key (signs secrets that must not verify).
pub const P8_OTHER: &str =
    include_str!("../../crates/siwa-kit/tests/fixtures/AuthKey_ZZZ999YYYX.p8");
/// The older keys that signed the real Apple tokens of
/// crates/siwa-kit/tests/vectors/apple-real (public keys copied from those
/// vectors).
pub const APPLE_REAL_KEYS: &str = include_str!("../seeds/apple-real-keys.json");

const RSA_A: &str = include_str!("../../crates/siwa-kit/tests/fixtures/rsa2048_a.pem");
const RSA_B: &str = include_str!("../../crates/siwa-kit/tests/fixtures/rsa2048_b.pem");

/// An RSA fixture key that signs RS256 tokens.
pub struct RsaSigner {
    pair: KeyPair,
    /// The kid it is published under.
    pub kid: &'static str,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl RsaSigner {
    fn load(pem: &str, kid: &'static str) -> Self {
        let pair = KeyPair::from_pkcs8(&pem_der(pem)).expect("fixture RSA key (PKCS#8)");
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        Self {
            pair,
            kid,
            n: public.n,
            e: public.e,
        }
    }

    /// Its JWK as Apple publishes one.
    pub fn jwk(&self) -> Jwk {
        Jwk::rsa(self.kid, &self.n, &self.e)
    }

    /// A compact JWS of exactly these header and payload bytes.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        format!("{input}.{}", b64(self.signature(input.as_bytes())))
    }

    /// The RS256 signature of `input`.
    pub fn signature(&self, input: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input,
                &mut signature,
            )
            .expect("RSA signing");
        signature
    }

    /// A token with Apple's header (`kid`, `alg`) and these claims.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_raw(header(self.kid).as_bytes(), claims.to_string().as_bytes())
    }
}

/// "Apple's current key": kid `FUZZKEYA01`.
pub fn key_a() -> &'static RsaSigner {
    static KEY: OnceLock<RsaSigner> = OnceLock::new();
    KEY.get_or_init(|| RsaSigner::load(RSA_A, "FUZZKEYA01"))
}

/// The second key of the set: kid `FUZZKEYB02`.
pub fn key_b() -> &'static RsaSigner {
    static KEY: OnceLock<RsaSigner> = OnceLock::new();
    KEY.get_or_init(|| RsaSigner::load(RSA_B, "FUZZKEYB02"))
}

/// The verifiers' key set: keys A and B, and the three real Apple keys.
pub fn key_set() -> JwkSet {
    let mut keys = vec![key_a().jwk(), key_b().jwk()];
    let real = JwkSet::from_json(APPLE_REAL_KEYS.as_bytes()).expect("apple-real-keys.json");
    keys.extend(real.keys);
    JwkSet::new(keys)
}

/// A verifier of tokens for [`WEB`] and [`IOS`] over [`key_set`], at [`NOW`].
pub fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        Verifier::new(
            Arc::new(KeyCache::from_jwks(&key_set())),
            [
                ClientId::new(WEB).expect("client id"),
                ClientId::new(IOS).expect("client id"),
            ],
        )
        .clock(Arc::new(FixedClock(UnixTime::from_secs(NOW))))
    })
}

/// Apple's header: `{"kid":..,"alg":"RS256"}`.
pub fn header(kid: &str) -> String {
    json!({"kid": kid, "alg": "RS256"}).to_string()
}

/// SHA-256 of [`RAW_NONCE`], in hex: the nonce of native tokens.
pub fn hashed_nonce() -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, RAW_NONCE.as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Claim sets that verify at [`NOW`]: a native and a web token, Apple's
/// string flags and its newer booleans, with and without a nonce.
pub fn good_claims() -> Vec<Value> {
    vec![
        json!({
            "iss": APPLE, "aud": IOS, "exp": NOW + 86_300, "iat": NOW - 100, "sub": SUB,
            "c_hash": "4B6JY58Nk-UBlcwLkeKsig", "email": "abcdef1234@privaterelay.appleid.com",
            "email_verified": "true", "is_private_email": "true", "auth_time": NOW - 100,
            "nonce_supported": true, "nonce": hashed_nonce(), "real_user_status": 2
        }),
        json!({
            "iss": APPLE, "aud": WEB, "exp": NOW + 600, "iat": NOW - 10, "sub": SUB,
            "at_hash": "zjRiT7d3TqQ5S7pFdo6qXg", "email": "alice@example.com",
            "email_verified": true, "is_private_email": false, "auth_time": NOW - 10,
            "nonce_supported": true, "nonce": "web-nonce-1"
        }),
        json!({"iss": APPLE, "aud": WEB, "exp": NOW + 1, "iat": NOW, "sub": "s"}),
        json!({
            "iss": APPLE, "aud": [WEB, IOS], "azp": WEB, "exp": NOW + 60, "iat": NOW,
            "nbf": NOW - 5, "sub": SUB, "transfer_sub": "001234.ffff.1234"
        }),
    ]
}

/// A notification's claims that verify at [`NOW`], with this event.
pub fn notification_claims(event: &Value) -> Value {
    json!({
        "iss": APPLE, "aud": WEB, "exp": NOW + 86_400, "iat": NOW - 9,
        "jti": "B94OdD03pFsaYaN-Ftv7mA", "events": event.to_string()
    })
}

/// Events of each kind Apple sends.
pub fn good_events() -> Vec<Value> {
    vec![
        json!({"type": "email-disabled", "sub": SUB, "event_time": 1_630_085_403_648u64,
               "email": "zdfu7jtuus@privaterelay.appleid.com", "is_private_email": "true"}),
        json!({"type": "email-enabled", "sub": SUB, "event_time": 1u64,
               "email": "x@privaterelay.appleid.com", "is_private_email": true}),
        json!({"type": "consent-revoked", "sub": SUB, "event_time": NOW * 1000}),
        json!({"type": "account-delete", "sub": SUB, "event_time": NOW * 1000}),
    ]
}

/// Every token known to verify: the good claims signed by key A and by key B,
/// and the good notifications signed by key A.
pub fn good_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let mut tokens = Vec::new();
        for claims in good_claims() {
            tokens.push(key_a().sign(&claims));
            tokens.push(key_b().sign(&claims));
        }
        for event in good_events() {
            tokens.push(key_a().sign(&notification_claims(&event)));
        }
        tokens
    })
}

/// Whether `token` is byte for byte one of [`good_tokens`].
pub fn is_known_good(token: &str) -> bool {
    good_tokens().iter().any(|t| t == token)
}

/// The `.p8` fixture, loaded.
pub fn p8_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_pem(P8).expect("the .p8 fixture"))
}

/// A client_secret Apple (and the emulator) accepts for `client_id` at `now`.
pub fn client_secret(client_id: &str, now: u64) -> String {
    ClientSecretBuilder::new(
        TeamId::new(TEAM_ID).expect("team id"),
        KeyId::new(KEY_ID).expect("key id"),
        ClientId::new(client_id).expect("client id"),
    )
    .sign(p8_key(), UnixTime::from_secs(now))
    .expect("client_secret")
    .secret()
    .to_owned()
}

/// Unpadded base64url.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER inside a PEM (the fixtures are well-formed).
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).expect("PEM body")
}
