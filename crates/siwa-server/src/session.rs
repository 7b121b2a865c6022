//! Our sessions: short-lived access tokens (ES256 JWTs signed with the
//! service's key, published at `/.well-known/jwks.json`), a longer-lived web
//! session cookie of the same form, and opaque rotating refresh tokens stored
//! hashed. Every token names its session family (`sid`), so logout and
//! revocation take effect at once: `/me` checks the family is still active.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use siwa_kit::jws::{self, Segment};

use crate::crypto::{random_token, sha256};
use crate::keys::ServiceKeys;

/// What kind of token a JWT of ours is.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenUse {
    /// A bearer access token.
    Access,
    /// The web session cookie.
    Web,
}

/// The claims of our JWTs.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct SessionClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) sid: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    #[serde(rename = "use")]
    pub(crate) token_use: TokenUse,
}

/// Signs a session JWT.
pub(crate) fn mint(keys: &ServiceKeys, claims: &SessionClaims) -> Option<String> {
    let header = serde_json::json!({"alg": "ES256", "kid": keys.session_kid(), "typ": "JWT"});
    let mut jwt = URL_SAFE_NO_PAD.encode(header.to_string());
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).ok()?));
    let signature = keys.session().sign_es256(jwt.as_bytes()).ok()?;
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Some(jwt)
}

/// Checks a session JWT: our key, ES256 only, our issuer, the expected use, not expired.
pub(crate) fn check(
    keys: &ServiceKeys,
    token: &str,
    issuer: &str,
    token_use: TokenUse,
    now: i64,
) -> Option<SessionClaims> {
    #[derive(Deserialize)]
    struct Header<'a> {
        alg: &'a str,
        kid: &'a str,
    }
    let parts = jws::split(token).ok()?;
    let header = parts.decode(Segment::Header).ok()?;
    let header: Header<'_> = serde_json::from_slice(&header).ok()?;
    if header.alg != "ES256" || header.kid != keys.session_kid() {
        return None;
    }
    let mut signature = [0u8; ES256_SIGNATURE_LEN + 4];
    let signature =
        jws::decode_segment_into(parts.signature(), Segment::Signature, &mut signature).ok()?;
    if !keys.verify_session(parts.signing_input(), signature) {
        return None;
    }
    let claims: SessionClaims =
        serde_json::from_slice(&parts.decode(Segment::Payload).ok()?).ok()?;
    claims.accepts(issuer, token_use, now).then_some(claims)
}

impl SessionClaims {
    /// Our issuer, the expected use, not expired.
    fn accepts(&self, issuer: &str, token_use: TokenUse, now: i64) -> bool {
        self.iss == issuer && self.token_use == token_use && self.exp > now
    }
}

/// Session tokens whose signature has already been checked.
///
/// A client presents the same access token on every call during its life;
/// the ECDSA check is most of what `GET /me` costs, so it is done once per
/// token. Entries are keyed by the SHA-256 of the whole token and hold its
/// verified claims; a hit still checks issuer, use and expiry, and the caller
/// still asks the store whether the session is active (logout and revocation
/// take effect at once). Only tokens that verified are kept, at most
/// [`MAX_VERIFIED_TOKENS`] (then the expired ones go, and if need be half of
/// the rest); the service's signing key never changes while it
/// runs, so an entry stays true for as long as its token is unexpired.
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], SessionClaims>>,
    max: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_max(MAX_VERIFIED_TOKENS)
    }
}

impl VerifiedTokens {
    fn with_max(max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            max: max.max(2),
        }
    }

    /// [`check`], done once per distinct token.
    pub(crate) fn check(
        &self,
        keys: &ServiceKeys,
        token: &str,
        issuer: &str,
        token_use: TokenUse,
        now: i64,
    ) -> Option<SessionClaims> {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        let cached = self.lock().get(&key).cloned();
        if let Some(claims) = cached {
            return claims.accepts(issuer, token_use, now).then_some(claims);
        }
        let claims = check(keys, token, issuer, token_use, now)?;
        let mut entries = self.lock();
        if entries.len() >= self.max {
            entries.retain(|_, c| c.exp > now);
            if entries.len() >= self.max {
                let evicted: Vec<[u8; 32]> = entries.keys().take(self.max / 2).copied().collect();
                for k in evicted {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, claims.clone());
        Some(claims)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], SessionClaims>> {
        // The map is a cache: whatever a panicking holder left is still valid entries.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedTokens")
            .field("entries", &self.lock().len())
            .finish()
    }
}

/// Verified tokens kept at most (each about 200 bytes).
const MAX_VERIFIED_TOKENS: usize = 16_384;

/// Length of an ES256 signature in JWS form (`r || s`).
const ES256_SIGNATURE_LEN: usize = 64;

/// A new opaque refresh token and its hash (only the hash is stored).
pub(crate) fn new_refresh_token() -> (String, Vec<u8>) {
    let token = format!("rt_{}", random_token());
    let hash = sha256(token.as_bytes());
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(token_use: TokenUse, exp: i64) -> SessionClaims {
        SessionClaims {
            iss: "https://example.com".into(),
            sub: "u1".into(),
            sid: "f1".into(),
            iat: 100,
            exp,
            token_use,
        }
    }

    #[test]
    fn minted_tokens_check_and_others_do_not() {
        let keys = ServiceKeys::generate().unwrap();
        let token = mint(&keys, &claims(TokenUse::Access, 1_000)).unwrap();
        let ok = check(&keys, &token, "https://example.com", TokenUse::Access, 999).unwrap();
        assert_eq!((ok.sub.as_str(), ok.sid.as_str()), ("u1", "f1"));
        assert!(
            check(
                &keys,
                &token,
                "https://example.com",
                TokenUse::Access,
                1_000
            )
            .is_none(),
            "expired"
        );
        assert!(
            check(&keys, &token, "https://other.com", TokenUse::Access, 999).is_none(),
            "issuer"
        );
        assert!(
            check(&keys, &token, "https://example.com", TokenUse::Web, 999).is_none(),
            "use"
        );
        let other = ServiceKeys::generate().unwrap();
        assert!(
            check(&other, &token, "https://example.com", TokenUse::Access, 999).is_none(),
            "key"
        );
        let (head, rest) = token.split_once('.').unwrap();
        let none_alg = format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), rest);
        assert!(check(
            &keys,
            &none_alg,
            "https://example.com",
            TokenUse::Access,
            999
        )
        .is_none());
        assert!(!head.is_empty());
    }

    #[test]
    fn verified_tokens_are_checked_once_and_still_judged_on_every_use() {
        let keys = ServiceKeys::generate().unwrap();
        let cache = VerifiedTokens::default();
        let token = mint(&keys, &claims(TokenUse::Access, 1_000)).unwrap();
        let issuer = "https://example.com";
        for _ in 0..2 {
            let ok = cache
                .check(&keys, &token, issuer, TokenUse::Access, 999)
                .unwrap();
            assert_eq!((ok.sub.as_str(), ok.sid.as_str()), ("u1", "f1"));
        }
        assert_eq!(cache.lock().len(), 1);
        // A cached token is still refused once expired, for another issuer or use.
        assert!(cache
            .check(&keys, &token, issuer, TokenUse::Access, 1_000)
            .is_none());
        assert!(cache
            .check(&keys, &token, "https://other.com", TokenUse::Access, 999)
            .is_none());
        assert!(cache
            .check(&keys, &token, issuer, TokenUse::Web, 999)
            .is_none());
        // A token that does not verify is refused and never kept.
        let other = ServiceKeys::generate().unwrap();
        let forged = mint(&other, &claims(TokenUse::Access, 1_000)).unwrap();
        assert!(cache
            .check(&keys, &forged, issuer, TokenUse::Access, 999)
            .is_none());
        let (input, _) = token.rsplit_once('.').unwrap();
        let bad_signature = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]));
        assert!(cache
            .check(&keys, &bad_signature, issuer, TokenUse::Access, 999)
            .is_none());
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn verified_tokens_stay_bounded() {
        let keys = ServiceKeys::generate().unwrap();
        let cache = VerifiedTokens::with_max(8);
        for i in 0..20 {
            let mut c = claims(TokenUse::Access, 1_000);
            c.sid = format!("f{i}");
            let token = mint(&keys, &c).unwrap();
            assert!(cache
                .check(&keys, &token, "https://example.com", TokenUse::Access, 999)
                .is_some());
        }
        assert!(cache.lock().len() <= 8);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_a, sha256(a.as_bytes()));
        assert!(a.len() > 40);
    }
}
