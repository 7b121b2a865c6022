//! Our sessions: short-lived access tokens (ES256 JWTs signed with the
//! service's key, published at `/.well-known/jwks.json`), a longer-lived web
//! session cookie of the same form, and opaque rotating refresh tokens stored
//! hashed. Every token names its session family (`sid`), so logout and
//! revocation take effect at once: `/me` checks the family is still active.

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
    let parts = jws::split(token).ok()?;
    let header: serde_json::Value =
        serde_json::from_slice(&parts.decode(Segment::Header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "ES256" || header.get("kid")?.as_str()? != keys.session_kid()
    {
        return None;
    }
    let signature = parts.decode(Segment::Signature).ok()?;
    jws::verify_es256(
        keys.session().public_key(),
        parts.signing_input(),
        &signature,
    )
    .ok()?;
    let claims: SessionClaims =
        serde_json::from_slice(&parts.decode(Segment::Payload).ok()?).ok()?;
    (claims.iss == issuer && claims.token_use == token_use && claims.exp > now).then_some(claims)
}

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
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_a, sha256(a.as_bytes()));
        assert!(a.len() > 40);
    }
}
