//! [`Es256Key`]: tokens a caller signs and checks itself (a service's
//! sessions, a client secret). One P-256 key and the `kid` naming it sign
//! compact ES256 tokens, and verify them as a key set of that one key, each
//! kind of token told apart by its header's exact `typ`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use thiserror::Error;

use super::compact::split;
use super::strict_json::cut;
use super::verify::{read_header, signed_payload, Es256, TokenError, Verified, HEADER_BUF_LEN};
use crate::p8::{SignError, SigningKey};

/// One P-256 key and the `kid` that names it: signs compact ES256 tokens,
/// and verifies them by [`verify`](super::verify)'s rules with ES256 and a
/// key set of this one key, plus a rule on `typ` (RFC 8725 §3.11: each kind
/// of token has its own, so one kind cannot pass for another).
///
/// ```
/// use siwa_kit::jws::Es256Key;
/// use siwa_kit::p8::SigningKey;
/// # let pem = include_str!("../../tests/fixtures/AuthKey_ABC123DEFG.p8");
/// let key = SigningKey::from_pem(pem)?;
/// let ours = Es256Key::new(&key, "session-key-1");
/// let token = ours.sign(Some("at+jwt"), br#"{"sub":"u1"}"#)?;
/// let (kind, verified) = ours.verify(&token, &[("at+jwt", "access")])?;
/// assert_eq!((kind, verified.payload()), ("access", r#"{"sub":"u1"}"#));
/// assert!(ours.verify(&token, &[("siwa-session+jwt", "web")]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Es256Key<'k> {
    key: &'k SigningKey,
    kid: &'k str,
}

impl<'k> Es256Key<'k> {
    /// `key`, named `kid` in the tokens it signs.
    pub fn new(key: &'k SigningKey, kid: &'k str) -> Self {
        Self { key, kid }
    }

    /// Signs `payload` (the claims, as JSON) into a compact JWS whose header
    /// is `{"alg":"ES256","kid":…}`, with `"typ":…` last when given.
    pub fn sign(&self, typ: Option<&str>, payload: &[u8]) -> Result<String, SignError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            kid: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            typ: Option<&'a str>,
        }
        let header = Header {
            alg: "ES256",
            kid: self.kid,
            typ,
        };
        // A struct of strings serializes without fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let mut jwt = String::with_capacity(
            base64_len(header.len()) + base64_len(payload.len()) + base64_len(64) + 2,
        );
        URL_SAFE_NO_PAD.encode_string(header, &mut jwt);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut jwt);
        let signature = self.key.sign_es256(jwt.as_bytes())?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        Ok(jwt)
    }

    /// Verifies a token of this key, and tells its kind: `kinds` maps each
    /// `typ` accepted, exactly, to the caller's kind of token. Besides
    /// [`verify`](super::verify)'s rules with ES256, the header's `kid` must
    /// be this key's and its `typ` one of `kinds`' (both checked before the
    /// signature). Nothing waits: the key is at hand.
    pub fn verify<K: Copy>(
        &self,
        token: &str,
        kinds: &[(&str, K)],
    ) -> Result<(K, Verified), TokenError<ForeignToken>> {
        let parts = split(token)?;
        let mut header_buf = [0u8; HEADER_BUF_LEN];
        let header = read_header(parts, Es256, &mut header_buf)?;
        if header.kid != self.kid {
            return Err(TokenError::Key(ForeignToken::Kid {
                found: cut(&header.kid),
            }));
        }
        let typ = header.typ.as_deref();
        let Some(&(_, kind)) = kinds.iter().find(|(accepted, _)| typ == Some(*accepted)) else {
            return Err(TokenError::Key(ForeignToken::Type {
                found: typ.map(cut),
            }));
        };
        let verified = signed_payload(parts, Es256, self.key.public_key())?;
        Ok((kind, verified))
    }
}

/// Why a token is not one of an [`Es256Key`]'s own: found before its
/// signature is checked.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum ForeignToken {
    /// The header's `kid` names another key.
    #[error("the token's kid {found:?} is not this key's")]
    Kid {
        /// The header's `kid` (cut at 80 characters).
        found: String,
    },
    /// The header's `typ` is missing, or not one of the kinds asked for.
    #[error("the token's typ {found:?} is not one of the kinds asked for")]
    Type {
        /// The header's `typ`, if it has a string one.
        found: Option<String>,
    },
}

impl ForeignToken {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Kid { .. } => {
                "the token was made with another key (an old one, or another service's): sign in again"
            }
            Self::Type { .. } => {
                "each kind of token is accepted only where it belongs: send the token this route asks for"
            }
        }
    }
}

/// Length of the unpadded base64url of `len` bytes.
fn base64_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}
