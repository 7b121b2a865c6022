//! Our sessions: short-lived access tokens (ES256 JWTs of RFC 9068, `typ`
//! `at+jwt`, with our issuer and `token_audience` as `aud`, signed with the
//! service's key and published at `/.well-known/jwks.json`), a longer-lived
//! web session cookie of the same form but its own `typ`, and opaque rotating
//! refresh tokens stored hashed. Every token names its session family
//! (`sid`), so logout and revocation take effect at once: `/me` checks the
//! family is still active and within its absolute lifetime.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{digest, SHA256};
use serde::{Deserialize, Serialize};
use siwa_kit::jws::Es256Key;

use crate::crypto::{random_token, sha256};
use crate::keys::ServiceKeys;
use crate::secrets::RefreshToken;

/// What kind of token a JWT of ours is: told apart by the header's `typ`,
/// which each check requires exactly.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum TokenKind {
    /// A bearer access token (RFC 9068: `typ` `at+jwt`).
    Access,
    /// The web session cookie.
    WebSession,
}

impl TokenKind {
    /// The header's `typ` its tokens are signed with.
    fn typ(self) -> &'static str {
        match self {
            Self::Access => "at+jwt",
            Self::WebSession => "siwa-session+jwt",
        }
    }
}

/// Each `typ` accepted, exactly, and the kind it names (RFC 9068 also allows
/// the media type form for access tokens).
const KINDS: [(&str, TokenKind); 3] = [
    ("at+jwt", TokenKind::Access),
    ("application/at+jwt", TokenKind::Access),
    ("siwa-session+jwt", TokenKind::WebSession),
];

/// The claims of our JWTs (RFC 9068's for access tokens).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct SessionClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    /// The Apple client id (Services ID or bundle ID) the session was opened through.
    pub(crate) client_id: String,
    pub(crate) sid: String,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// What a token must say to be accepted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expected<'a> {
    pub(crate) kind: TokenKind,
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) now: i64,
}

/// Signs a session JWT of `kind`.
pub(crate) fn mint(keys: &ServiceKeys, kind: TokenKind, claims: &SessionClaims) -> Option<String> {
    let payload = serde_json::to_vec(claims).ok()?;
    session_key(keys).sign(Some(kind.typ()), &payload).ok()
}

/// The signature and header checks (our key, ES256 only, one of our `typ`s):
/// what is true of a token for its whole life. Its kind with its claims.
fn verify(keys: &ServiceKeys, token: &str) -> Option<(TokenKind, SessionClaims)> {
    let (kind, verified) = session_key(keys).verify(token, &KINDS).ok()?;
    let claims = serde_json::from_str(verified.payload()).ok()?;
    Some((kind, claims))
}

/// The service's session key, as the kit signs and checks tokens with it.
fn session_key(keys: &ServiceKeys) -> Es256Key<'_> {
    Es256Key::new(keys.session(), keys.session_kid())
}

/// The expected kind, issuer and audience; not expired.
fn accepts(kind: TokenKind, claims: &SessionClaims, expected: &Expected<'_>) -> bool {
    kind == expected.kind
        && claims.iss == expected.issuer
        && claims.aud == expected.audience
        && claims.exp > expected.now
}

/// Session tokens whose signature has already been checked.
///
/// A client presents the same access token on every call during its life;
/// the ECDSA check is most of what `GET /me` costs, so it is done once per
/// token. Entries are keyed by the SHA-256 of the whole token and hold its
/// kind and verified claims; a hit still checks kind, issuer, audience and
/// expiry, and the caller
/// still asks the store whether the session is active (logout and revocation
/// take effect at once). Only tokens that verified are kept, at most
/// [`MAX_VERIFIED_TOKENS`] (then the expired ones go, and if need be half of
/// the rest); the service's signing key never changes while it
/// runs, so an entry stays true for as long as its token is unexpired.
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], (TokenKind, SessionClaims)>>,
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

    /// [`check`], the signature checked once per distinct token.
    pub(crate) fn check(
        &self,
        keys: &ServiceKeys,
        token: &str,
        expected: &Expected<'_>,
    ) -> Option<SessionClaims> {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        let cached = self.lock().get(&key).cloned();
        if let Some((kind, claims)) = cached {
            return accepts(kind, &claims, expected).then_some(claims);
        }
        let (kind, claims) = verify(keys, token)?;
        if !accepts(kind, &claims, expected) {
            return None;
        }
        let now = expected.now;
        let mut entries = self.lock();
        if entries.len() >= self.max {
            entries.retain(|_, (_, c)| c.exp > now);
            if entries.len() >= self.max {
                let evicted: Vec<[u8; 32]> = entries.keys().take(self.max / 2).copied().collect();
                for k in evicted {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (kind, claims.clone()));
        Some(claims)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (TokenKind, SessionClaims)>> {
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

/// A new opaque refresh token and its hash (only the hash is stored).
pub(crate) fn new_refresh_token() -> (RefreshToken, Vec<u8>) {
    let token = RefreshToken::new(format!("rt_{}", random_token()));
    let hash = sha256(token.secret().as_bytes());
    (token, hash)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    /// A token checked without the cache.
    fn check(keys: &ServiceKeys, token: &str, expected: &Expected<'_>) -> Option<SessionClaims> {
        let (kind, claims) = verify(keys, token)?;
        accepts(kind, &claims, expected).then_some(claims)
    }

    const ISSUER: &str = "https://example.com";
    const AUDIENCE: &str = "https://api.example.com";

    fn claims(exp: i64) -> SessionClaims {
        SessionClaims {
            iss: ISSUER.into(),
            sub: "u1".into(),
            aud: AUDIENCE.into(),
            client_id: "com.example.ios".into(),
            sid: "f1".into(),
            jti: "j1".into(),
            iat: 100,
            exp,
        }
    }

    fn expected(kind: TokenKind, now: i64) -> Expected<'static> {
        Expected {
            kind,
            issuer: ISSUER,
            audience: AUDIENCE,
            now,
        }
    }

    fn with_header(keys: &ServiceKeys, header: &str, payload: &SessionClaims) -> String {
        let mut jwt = URL_SAFE_NO_PAD.encode(header);
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap()));
        let signature = keys.session().sign_es256(jwt.as_bytes()).unwrap();
        format!("{jwt}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn minted_tokens_check_and_others_do_not() {
        let keys = ServiceKeys::generate().unwrap();
        let token = mint(&keys, TokenKind::Access, &claims(1_000)).unwrap();
        let ok = check(&keys, &token, &expected(TokenKind::Access, 999)).unwrap();
        assert_eq!((ok.sub.as_str(), ok.sid.as_str()), ("u1", "f1"));
        assert!(
            check(&keys, &token, &expected(TokenKind::Access, 1_000)).is_none(),
            "expired"
        );
        let mut other_issuer = expected(TokenKind::Access, 999);
        other_issuer.issuer = "https://other.com";
        assert!(check(&keys, &token, &other_issuer).is_none(), "issuer");
        let mut other_audience = expected(TokenKind::Access, 999);
        other_audience.audience = "https://other-api.example.com";
        assert!(check(&keys, &token, &other_audience).is_none(), "audience");
        assert!(
            check(&keys, &token, &expected(TokenKind::WebSession, 999)).is_none(),
            "kind"
        );
        let other = ServiceKeys::generate().unwrap();
        assert!(
            check(&other, &token, &expected(TokenKind::Access, 999)).is_none(),
            "key"
        );
        let (_, rest) = token.split_once('.').unwrap();
        let none_alg = format!("{}.{}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), rest);
        assert!(check(&keys, &none_alg, &expected(TokenKind::Access, 999)).is_none());
    }

    /// Finding 9 of the security review: tokens of one key were told apart only
    /// by a private claim. Each kind now needs its own `typ`, and an access
    /// token its audience.
    #[test]
    fn access_tokens_are_typed_and_audience_bound() {
        let keys = ServiceKeys::generate().unwrap();
        let kid = keys.session_kid().to_owned();
        let access = mint(&keys, TokenKind::Access, &claims(1_000)).unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(access.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["typ"], "at+jwt");
        // Signed with our key, but without a typ, or with the generic JWT one: refused.
        for header in [
            format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT"}}"#),
        ] {
            let token = with_header(&keys, &header, &claims(1_000));
            assert!(check(&keys, &token, &expected(TokenKind::Access, 999)).is_none());
            assert!(check(&keys, &token, &expected(TokenKind::WebSession, 999)).is_none());
        }
        let media_type = with_header(
            &keys,
            &format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"application/at+jwt"}}"#),
            &claims(1_000),
        );
        assert!(check(&keys, &media_type, &expected(TokenKind::Access, 999)).is_some());
        // The web session cookie is no bearer token, and the reverse.
        let web = mint(&keys, TokenKind::WebSession, &claims(1_000)).unwrap();
        assert!(check(&keys, &web, &expected(TokenKind::Access, 999)).is_none());
        assert!(check(&keys, &web, &expected(TokenKind::WebSession, 999)).is_some());
        // Without the audience claim: refused.
        let mut payload = serde_json::to_value(claims(1_000)).unwrap();
        payload.as_object_mut().unwrap().remove("aud");
        let mut jwt =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt"}}"#));
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
        let signature = keys.session().sign_es256(jwt.as_bytes()).unwrap();
        let no_aud = format!("{jwt}.{}", URL_SAFE_NO_PAD.encode(signature));
        assert!(check(&keys, &no_aud, &expected(TokenKind::Access, 999)).is_none());
    }

    #[test]
    fn verified_tokens_are_checked_once_and_still_judged_on_every_use() {
        let keys = ServiceKeys::generate().unwrap();
        let cache = VerifiedTokens::default();
        let token = mint(&keys, TokenKind::Access, &claims(1_000)).unwrap();
        for _ in 0..2 {
            let ok = cache
                .check(&keys, &token, &expected(TokenKind::Access, 999))
                .unwrap();
            assert_eq!((ok.sub.as_str(), ok.sid.as_str()), ("u1", "f1"));
        }
        assert_eq!(cache.lock().len(), 1);
        // A cached token is still refused once expired, for another issuer, audience or kind.
        assert!(cache
            .check(&keys, &token, &expected(TokenKind::Access, 1_000))
            .is_none());
        let mut other_issuer = expected(TokenKind::Access, 999);
        other_issuer.issuer = "https://other.com";
        assert!(cache.check(&keys, &token, &other_issuer).is_none());
        let mut other_audience = expected(TokenKind::Access, 999);
        other_audience.audience = "https://other.com";
        assert!(cache.check(&keys, &token, &other_audience).is_none());
        assert!(cache
            .check(&keys, &token, &expected(TokenKind::WebSession, 999))
            .is_none());
        // A token that does not verify is refused and never kept.
        let other = ServiceKeys::generate().unwrap();
        let forged = mint(&other, TokenKind::Access, &claims(1_000)).unwrap();
        assert!(cache
            .check(&keys, &forged, &expected(TokenKind::Access, 999))
            .is_none());
        let (input, _) = token.rsplit_once('.').unwrap();
        let bad_signature = format!("{input}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]));
        assert!(cache
            .check(&keys, &bad_signature, &expected(TokenKind::Access, 999))
            .is_none());
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn verified_tokens_stay_bounded() {
        let keys = ServiceKeys::generate().unwrap();
        let cache = VerifiedTokens::with_max(8);
        for i in 0..20 {
            let mut c = claims(1_000);
            c.sid = format!("f{i}");
            let token = mint(&keys, TokenKind::Access, &c).unwrap();
            assert!(cache
                .check(&keys, &token, &expected(TokenKind::Access, 999))
                .is_some());
        }
        assert!(cache.lock().len() <= 8);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a.secret(), b.secret());
        assert_eq!(hash_a, sha256(a.secret().as_bytes()));
        assert!(a.secret().len() > 40);
    }
}
