//! The emulator's own RSA-2048 signing keys, published at /auth/keys.
//!
//! Like Apple, a rotation makes a new key current and keeps the old ones
//! published for a while ([`MAX_PUBLISHED`] keys in all).

use std::sync::{Arc, RwLock};

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

use crate::random::{b64url, random_alnum};

/// How many keys /auth/keys lists at most (Apple shows 3 to 5).
pub(crate) const MAX_PUBLISHED: usize = 3;

/// One RSA key that signs identity tokens and notifications.
pub(crate) struct RsaSigner {
    pub(crate) kid: String,
    pair: RsaKeyPair,
    jwk: Value,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// A fresh RSA-2048 key with a random 10-character kid.
    pub(crate) fn generate() -> Result<Self, KeyGenError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyGenError)?;
        let kid = random_alnum(10);
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA",
            "kid": kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64url(public.modulus().big_endian_without_leading_zero()),
            "e": b64url(public.exponent().big_endian_without_leading_zero()),
        });
        Ok(Self { kid, pair, jwk })
    }

    /// Signs `claims` as an RS256 JWT with header `{"kid","alg"}` (no `typ`, as Apple).
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, KeyGenError> {
        let header = json!({"kid": self.kid, "alg": "RS256"});
        let mut jwt = b64url(header.to_string().as_bytes());
        jwt.push('.');
        jwt.push_str(&b64url(claims.to_string().as_bytes()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                jwt.as_bytes(),
                &mut sig,
            )
            .map_err(|_| KeyGenError)?;
        jwt.push('.');
        jwt.push_str(&b64url(&sig));
        Ok(jwt)
    }
}

/// RSA key generation or signing failed (the system's random source).
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("RSA key generation or signing failed")]
pub struct KeyGenError;

/// The published keys; the first is current.
#[derive(Debug)]
pub(crate) struct SigningKeys {
    keys: RwLock<Vec<Arc<RsaSigner>>>,
}

impl SigningKeys {
    pub(crate) fn new() -> Result<Self, KeyGenError> {
        Ok(Self {
            keys: RwLock::new(vec![Arc::new(RsaSigner::generate()?)]),
        })
    }

    /// The key that signs now.
    pub(crate) fn current(&self) -> Arc<RsaSigner> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `new` starts with one key and `rotate` only adds, so the list is never empty.
        Arc::clone(&keys[0])
    }

    /// Puts `next` in front; the oldest beyond [`MAX_PUBLISHED`] is withdrawn.
    pub(crate) fn rotate(&self, next: RsaSigner) -> Vec<String> {
        let mut keys = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.insert(0, Arc::new(next));
        keys.truncate(MAX_PUBLISHED);
        keys.iter().map(|k| k.kid.clone()).collect()
    }

    /// The JWKS document of /auth/keys.
    pub(crate) fn jwks(&self) -> Value {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
    }
}
