//! Verifying Apple's identity tokens: [`Verifier`] -> [`Claims`].
//!
//! The algorithm is fixed here, never read from the token: RS256 with an RSA
//! key of at least 2048 bits from the key set, chosen by `kid`. Steps 1 to 3
//! are [`jws::verify`]'s, the one entry for a signed token; this module
//! keeps the claim rules. In order:
//! 1. the token is at most 16 KiB and three canonical base64url segments;
//! 2. the header is strict JSON with `alg` exactly `RS256`, a `kid`, and no
//!    `crit` or `b64` (`jku`, `x5u`, `jwk`, `x5c` are never followed);
//! 3. the key for `kid` comes from the [`KeyCache`] and the signature
//!    verifies; the payload is strict JSON;
//! 4. `iss` equals the issuer byte for byte; `aud`
//!    is an accepted client id (a string, or an array whose members are all
//!    accepted, with an `azp` naming one of them when there are several);
//!    `exp` and `iat` are JSON numbers (RFC 7519 NumericDate: a fraction or
//!    an exponent is judged by its value, held as the whole second at or
//!    after it; negative or past `u64` is refused, and so is a string);
//!    `exp` is not past, `iat` and `nbf` not in the future (each with the
//!    leeway); `sub` is a non-empty string;
//! 5. the nonce matches, when a [`NoncePolicy`] asks for one.
//!
//! Every rejection is a [`VerifyError`] naming the claim and the values.
//!
//! ```
//! use std::sync::{Arc, OnceLock};
//! use siwa_kit::clock::{FixedClock, UnixTime};
//! use siwa_kit::id_token::{NoncePolicy, Verifier, VerifyError};
//! use siwa_kit::claims::Nonce;
//! use siwa_kit::ids::ClientId;
//! use siwa_kit::jwks::KeyCache;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let jwks = br#"{"keys":[]}"#;
//! # let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkEifQ.e30.c2ln";
//! // A saved /auth/keys response; in a service use KeyCache::apple(http).
//! let keys = Arc::new(KeyCache::from_json(jwks)?);
//! let verifier = Verifier::new(
//!     keys,
//!     [ClientId::new("com.example.web")?, ClientId::new("com.example.ios")?],
//! )
//! .clock(Arc::new(FixedClock(UnixTime::from_secs(1_700_000_000))));
//! let nonce = NoncePolicy::Sha256OfRaw(Nonce::new("the raw nonce the app kept"));
//! match verifier.verify_with_nonce(token, &nonce).await {
//!     Ok(claims) => println!("signed in: {}", claims.sub()),
//!     Err(e) => println!("rejected: {e} ({})", e.hint()),
//! }
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};
use thiserror::Error;

use crate::claims::wire::{cut, Item, Slot, Wire, WireClaims};
use crate::claims::{ClaimError, Claims, Nonce, RealUserStatus, Text};
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::ids::ClientId;
use crate::jwks::{KeyCache, KeyLookupError};
use crate::jws::{self, JwsError, Members, Rs256, TokenError};

/// Apple's issuer, the default.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";
/// Default allowance for clock skew, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// The one algorithm accepted.
pub const ALGORITHM: &str = "RS256";

/// How the token's `nonce` is checked.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum NoncePolicy {
    /// Not checked (a `nonce` in the token is ignored). For tokens whose
    /// sign-in was not started by this service, e.g. a bearer token.
    #[default]
    Unchecked,
    /// The token's `nonce` equals this value (the web flow: the nonce sent
    /// to `/auth/authorize`).
    Exact(Nonce),
    /// The token's `nonce` is the SHA-256 of this raw value, in hex (the
    /// native flow: iOS apps send Apple the hash and keep the raw nonce).
    Sha256OfRaw(Nonce),
}

impl NoncePolicy {
    fn name(&self) -> &'static str {
        match self {
            Self::Unchecked => "unchecked",
            Self::Exact(_) => "exact",
            Self::Sha256OfRaw(_) => "sha256-of-raw",
        }
    }
}

/// Why an identity token (or a notification's JWT) was rejected.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// `alg` is not `RS256` (`none`, `HS256`, `ES256`, missing, ...).
    #[error("the token's alg is {found}; only RS256 is accepted")]
    Algorithm {
        /// The header's `alg`, quoted, or what it is when not a string.
        found: String,
    },
    /// `aud` holds a value that is not an accepted client id.
    #[error("the token's aud {found:?} is not accepted (accepted: {accepted:?})")]
    Audience {
        /// The token's `aud` values.
        found: Vec<String>,
        /// The accepted client ids.
        accepted: Vec<String>,
    },
    /// Several audiences and no `azp` naming one of them, or an `azp` that is
    /// not accepted.
    #[error("the token's azp {azp:?} does not name an accepted member of its aud {aud:?}")]
    AuthorizedParty {
        /// The token's `azp`.
        azp: Option<String>,
        /// The token's `aud` values.
        aud: Vec<String>,
    },
    /// A claim is missing, of the wrong type, or has a bad value.
    #[error(transparent)]
    Claim(#[from] ClaimError),
    /// `exp` is past, beyond the leeway.
    #[error("the token expired at {exp}; it is now {now} (leeway {leeway} s)")]
    Expired {
        /// The token's `exp`.
        exp: UnixTime,
        /// The verifier's time.
        now: UnixTime,
        /// The leeway allowed.
        leeway: u64,
    },
    /// A header this verifier refuses to process (`crit`, `b64`).
    #[error("the token's header has {name:?}, which is refused")]
    ForbiddenHeader {
        /// The header parameter.
        name: &'static str,
    },
    /// `iat` is in the future, beyond the leeway.
    #[error("the token's iat {iat} is in the future; it is now {now} (leeway {leeway} s)")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: UnixTime,
        /// The verifier's time.
        now: UnixTime,
        /// The leeway allowed.
        leeway: u64,
    },
    /// `iss` is not the issuer, byte for byte.
    #[error("the token's iss {found:?} is not {expected:?}")]
    Issuer {
        /// The token's `iss`.
        found: String,
        /// The expected issuer.
        expected: String,
    },
    /// Not a well-formed compact JWS (size, segments, base64url, strict JSON).
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// No usable key for the token's `kid`.
    #[error(transparent)]
    Key(#[from] KeyLookupError),
    /// The header has no `kid` (or an empty or non-string one).
    #[error("the token's header has no kid, so no key can be chosen")]
    KidMissing,
    /// The token's `nonce` does not match.
    #[error("the token's nonce does not match the expected one (policy {policy})")]
    NonceMismatch {
        /// The nonce policy: `exact` or `sha256-of-raw`.
        policy: &'static str,
    },
    /// The token has no `nonce`, but the policy requires one.
    #[error("the token has no nonce, but one is expected (policy {policy})")]
    NonceMissing {
        /// The nonce policy: `exact` or `sha256-of-raw`.
        policy: &'static str,
    },
    /// `nbf` is in the future, beyond the leeway.
    #[error("the token's nbf {nbf} is in the future; it is now {now} (leeway {leeway} s)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: UnixTime,
        /// The verifier's time.
        now: UnixTime,
        /// The leeway allowed.
        leeway: u64,
    },
    /// The signature does not verify with the key for `kid`.
    #[error("the token's signature does not verify with key {kid:?}")]
    Signature {
        /// The key id used.
        kid: String,
    },
}

impl VerifyError {
    /// The claim (or header parameter) concerned, if one is.
    pub fn claim(&self) -> Option<&'static str> {
        match self {
            Self::Algorithm { .. } => Some("alg"),
            Self::Audience { .. } => Some("aud"),
            Self::AuthorizedParty { .. } => Some("azp"),
            Self::Claim(e) => Some(e.claim()),
            Self::Expired { .. } => Some("exp"),
            Self::ForbiddenHeader { name } => Some(name),
            Self::IssuedInFuture { .. } => Some("iat"),
            Self::Issuer { .. } => Some("iss"),
            Self::KidMissing | Self::Key(_) => Some("kid"),
            Self::NonceMismatch { .. } | Self::NonceMissing { .. } => Some("nonce"),
            Self::NotYetValid { .. } => Some("nbf"),
            Self::Jws(_) | Self::Signature { .. } => None,
        }
    }

    /// Whether the token was fine as far as known but no key could be had
    /// (Apple unreachable): a server-side fault, not the client's.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Key(KeyLookupError::Unavailable { .. } | KeyLookupError::Expired { .. })
        )
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Algorithm { .. } => {
                "Apple signs identity tokens with RS256 only; a token with another alg is forged (alg confusion)"
            }
            Self::Audience { .. } => {
                "accept every client id your apps use: the Services ID (web) and each bundle ID (native); otherwise the token is for another app"
            }
            Self::AuthorizedParty { .. } => {
                "a token for several audiences must name the accepted one in azp; Apple's tokens carry one aud"
            }
            Self::Claim(e) => e.hint(),
            Self::Expired { .. } => {
                "get a fresh token (sign in again); if the clock is wrong, fix NTP; --now pins the time when testing"
            }
            Self::IssuedInFuture { .. } | Self::NotYetValid { .. } => {
                "this machine's clock is behind, or the token is forged: check NTP"
            }
            Self::ForbiddenHeader { .. } => "Apple's tokens carry only kid and alg: this one was not made by Apple",
            Self::Issuer { .. } => {
                "Apple's issuer is exactly https://appleid.apple.com (no trailing slash); set the verifier's issuer only for the emulator"
            }
            Self::Jws(e) => e.hint(),
            Self::Key(e) => e.hint(),
            Self::KidMissing => "Apple's tokens always name their key in kid: this one was not made by Apple",
            Self::NonceMismatch { .. } | Self::NonceMissing { .. } => {
                "the token belongs to another sign-in attempt (a replay?); the web flow compares the nonce sent, iOS apps send SHA-256(raw nonce) in hex"
            }
            Self::Signature { .. } => {
                "the token was altered or signed by another key: never accept it"
            }
        }
    }
}

impl From<TokenError<KeyLookupError>> for VerifyError {
    fn from(e: TokenError<KeyLookupError>) -> Self {
        match e {
            TokenError::Algorithm { found, .. } => Self::Algorithm { found },
            TokenError::ForbiddenHeader { name } => Self::ForbiddenHeader { name },
            TokenError::Jws(e) => Self::Jws(e),
            TokenError::Key(e) => Self::Key(e),
            TokenError::KidMissing => Self::KidMissing,
            TokenError::Signature { kid } => Self::Signature { kid },
        }
    }
}

/// Verifies Apple's identity tokens. Build it once and share it (`Arc`): it
/// is `Send + Sync` and verification takes `&self`.
#[derive(Debug)]
pub struct Verifier {
    keys: Arc<KeyCache>,
    audiences: Vec<String>,
    issuer: Arc<str>,
    leeway: u64,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier of tokens for these client ids (the Services ID and the
    /// bundle IDs), with keys from `keys`, issuer [`APPLE_ISSUER`], leeway
    /// [`DEFAULT_LEEWAY_SECS`] and the system clock. With no client id every
    /// token is rejected.
    pub fn new(keys: Arc<KeyCache>, audiences: impl IntoIterator<Item = ClientId>) -> Self {
        Self {
            keys,
            audiences: audiences
                .into_iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            issuer: Arc::from(APPLE_ISSUER),
            leeway: DEFAULT_LEEWAY_SECS,
            clock: Arc::new(SystemClock),
        }
    }

    /// The issuer `iss` must equal byte for byte (default [`APPLE_ISSUER`]).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Arc::from(issuer.into());
        self
    }

    /// Allowance for clock skew on `exp`, `iat` and `nbf` (default [`DEFAULT_LEEWAY_SECS`]).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// The clock `exp`, `iat` and `nbf` are judged by (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The accepted client ids.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The key cache.
    pub fn keys(&self) -> &Arc<KeyCache> {
        &self.keys
    }

    /// Verifies an identity token without checking its nonce.
    pub fn verify<'a>(
        &'a self,
        token: &'a str,
    ) -> impl Future<Output = Result<Claims, VerifyError>> + Send + 'a {
        self.verify_with_nonce(token, &NoncePolicy::Unchecked)
    }

    /// Verifies an identity token, checking its nonce as `nonce` says.
    ///
    /// (A function returning the verification's future rather than an
    /// `async fn`: one future fewer around it, whose output, the claims,
    /// would be moved once more.)
    pub fn verify_with_nonce<'a>(
        &'a self,
        token: &'a str,
        nonce: &'a NoncePolicy,
    ) -> impl Future<Output = Result<Claims, VerifyError>> + Send + 'a {
        jws::verify_then(token, &*self.keys, Rs256, move |payload, members| {
            self.claims(payload, members, nonce)
        })
    }

    /// Steps 4 and 5, on the payload of a token whose signature verified.
    /// Synchronous, so its work stays out of the caller's future.
    fn claims(
        &self,
        payload: String,
        members: &Members,
        nonce: &NoncePolicy,
    ) -> Result<Claims, VerifyError> {
        let mut wire = WireClaims::from_object(&payload, members);
        let registered = self.check_registered(&mut wire)?;
        let text = |value: Cow<'_, str>| Text::of(&payload, value);
        let some_text = |value: Option<Cow<'_, str>>| value.map(|v| Text::of(&payload, v));
        let sub = text(wire.sub.required_string("sub")?);
        let token_nonce = wire.nonce.string("nonce")?;
        check_nonce(nonce, token_nonce.as_deref())?;
        let real_user_status = match wire.real_user_status.uint("real_user_status")? {
            None => None,
            Some(code) => {
                Some(
                    RealUserStatus::from_code(code).ok_or_else(|| ClaimError::Value {
                        claim: "real_user_status",
                        reason: format!("{code} is not 0, 1 or 2"),
                    })?,
                )
            }
        };
        let mut claims = Claims {
            iss: text(registered.iss),
            sub,
            aud: text(registered.aud),
            aud_more: registered.aud_more.into_iter().map(text).collect(),
            azp: some_text(registered.azp),
            exp: registered.exp,
            iat: registered.iat,
            auth_time: wire.auth_time.time("auth_time")?,
            email: some_text(wire.email.string("email")?),
            email_verified: wire.email_verified.flag("email_verified")?,
            is_private_email: wire.is_private_email.flag("is_private_email")?,
            real_user_status,
            nonce: some_text(token_nonce),
            nonce_secret: OnceLock::new(),
            nonce_supported: wire.nonce_supported.flag("nonce_supported")?,
            at_hash: some_text(wire.at_hash.string("at_hash")?),
            c_hash: some_text(wire.c_hash.string("c_hash")?),
            transfer_sub: some_text(wire.transfer_sub.string("transfer_sub")?),
            raw: String::new(),
        };
        claims.raw = payload;
        Ok(claims)
    }

    /// `iss`, `aud`/`azp`, `exp`, `iat`, `nbf`.
    pub(crate) fn check_registered<'a>(
        &self,
        wire: &mut WireClaims<'a>,
    ) -> Result<Registered<'a>, VerifyError> {
        let now = self.clock.now();
        let iss = wire.iss.required_string("iss")?;
        if *iss != *self.issuer {
            return Err(VerifyError::Issuer {
                found: cut(&iss),
                expected: self.issuer.to_string(),
            });
        }
        let (aud, aud_more, azp) = self.check_audience(take(&mut wire.aud), take(&mut wire.azp))?;
        let exp = wire.exp.required_time("exp")?;
        let iat = wire.iat.required_time("iat")?;
        let nbf = wire.nbf.time("nbf")?;
        if now >= exp.plus(self.leeway) {
            return Err(VerifyError::Expired {
                exp,
                now,
                leeway: self.leeway,
            });
        }
        if iat > now.plus(self.leeway) {
            return Err(VerifyError::IssuedInFuture {
                iat,
                now,
                leeway: self.leeway,
            });
        }
        if let Some(nbf) = nbf.filter(|nbf| *nbf > now.plus(self.leeway)) {
            return Err(VerifyError::NotYetValid {
                nbf,
                now,
                leeway: self.leeway,
            });
        }
        Ok(Registered {
            iss,
            aud,
            aud_more,
            azp,
            exp,
            iat,
        })
    }

    #[allow(clippy::type_complexity)]
    fn check_audience<'a>(
        &self,
        aud: Wire<'a>,
        azp: Wire<'a>,
    ) -> Result<(Cow<'a, str>, Vec<Cow<'a, str>>, Option<Cow<'a, str>>), VerifyError> {
        let accepted = |value: &str| self.audiences.iter().any(|a| a == value);
        let values: Vec<Cow<'a, str>> = match aud {
            Wire::Absent => return Err(ClaimError::Missing { claim: "aud" }.into()),
            // Apple's form: one string, no azp.
            Wire::Str(one) if matches!(azp, Wire::Absent) => {
                if accepted(&one) {
                    return Ok((one, Vec::new(), None));
                }
                vec![one]
            }
            Wire::Str(one) => vec![one],
            Wire::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Item::Str(s) => values.push(s),
                        other => {
                            return Err(ClaimError::Type {
                                claim: "aud",
                                expected: "a string or an array of strings",
                                found: if matches!(other, Item::Array) {
                                    "an array holding an array"
                                } else {
                                    "an array holding a non-string"
                                },
                            }
                            .into())
                        }
                    }
                }
                values
            }
            other => {
                return Err(ClaimError::Type {
                    claim: "aud",
                    expected: "a string or an array of strings",
                    found: other.kind(),
                }
                .into())
            }
        };
        if values.is_empty() || !values.iter().all(|v| accepted(v)) {
            return Err(VerifyError::Audience {
                found: values.iter().take(16).map(|v| cut(v)).collect(),
                accepted: self.audiences.clone(),
            });
        }
        let azp = azp.string("azp")?;
        let azp_ok = match &azp {
            Some(azp) => accepted(azp) && values.iter().any(|v| v == azp),
            None => values.len() == 1,
        };
        if !azp_ok {
            return Err(VerifyError::AuthorizedParty {
                azp: azp.as_deref().map(cut),
                aud: values.iter().take(16).map(|v| cut(v)).collect(),
            });
        }
        let mut values = values.into_iter();
        let first = values.next().unwrap_or_default();
        Ok((first, values.collect(), azp))
    }
}

/// The registered claims, checked.
pub(crate) struct Registered<'a> {
    /// As the token wrote it (equal to the verifier's issuer).
    pub(crate) iss: Cow<'a, str>,
    /// The first `aud`, and the others.
    pub(crate) aud: Cow<'a, str>,
    pub(crate) aud_more: Vec<Cow<'a, str>>,
    pub(crate) azp: Option<Cow<'a, str>>,
    pub(crate) exp: UnixTime,
    pub(crate) iat: UnixTime,
}

fn check_nonce(policy: &NoncePolicy, found: Option<&str>) -> Result<(), VerifyError> {
    let expected = match policy {
        NoncePolicy::Unchecked => return Ok(()),
        NoncePolicy::Exact(expected) | NoncePolicy::Sha256OfRaw(expected) => expected,
    };
    let Some(found) = found else {
        return Err(VerifyError::NonceMissing {
            policy: policy.name(),
        });
    };
    let matches = match policy {
        NoncePolicy::Sha256OfRaw(_) => {
            let hash = digest(&SHA256, expected.secret().as_bytes());
            // Apps print the hash in hex, mostly lower case: the token's
            // digits are read back to bytes (either case accepted).
            hex_bytes::<32>(found)
                .is_some_and(|found| verify_slices_are_equal(&found, hash.as_ref()).is_ok())
        }
        _ => verify_slices_are_equal(found.as_bytes(), expected.secret().as_bytes()).is_ok(),
    };
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NonceMismatch {
            policy: policy.name(),
        })
    }
}

/// The `N` bytes that `2N` hex digits (either case) spell; `None` for any
/// other text. Eight digits at a time (`N` a multiple of four), without a
/// branch per digit: the nonce's 64 are read in eight steps.
fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N || N % 4 != 0 {
        return None;
    }
    let mut bytes = [0u8; N];
    for (out, word) in bytes.chunks_exact_mut(4).zip(digits.chunks_exact(8)) {
        let word = <[u8; 8]>::try_from(word).ok()?;
        out.copy_from_slice(&hex_word(u64::from_le_bytes(word))?.to_le_bytes());
    }
    Some(bytes)
}

/// The four bytes that eight hex digits spell (the first digit the high
/// half of the first byte), or `None` when any is no hex digit.
fn hex_word(x: u64) -> Option<u32> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // Flags the bytes at or above `n`: with every byte below 0x80, adding
    // 0x80 - n carries out of none.
    let at_least = |y: u64, n: u64| y.wrapping_add(ONES * (0x80 - n)) & HIGHS;
    if x & HIGHS != 0 {
        return None;
    }
    // A digit is below 10 once '0' is taken off; a letter of either case is
    // 1 to 6 once lowered and 0x60 taken off.
    let not_digit = at_least(x ^ (ONES * 0x30), 10);
    let letter = (x | (ONES * 0x20)) ^ (ONES * 0x60);
    let not_letter = (!at_least(letter, 1) | at_least(letter, 7)) & HIGHS;
    if not_digit & not_letter != 0 {
        return None;
    }
    // Each digit's value: its low four bits, plus 9 for a letter (bit 6).
    let nibbles = (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9;
    // Pairs of digits into bytes, each in the low half of a 16-bit lane,
    // then the lanes' bytes side by side.
    let pairs = ((nibbles & 0x00FF_00FF_00FF_00FF) << 4) | ((nibbles >> 8) & 0x00FF_00FF_00FF_00FF);
    let quads = (pairs | (pairs >> 8)) & 0x0000_FFFF_0000_FFFF;
    u32::try_from((quads | (quads >> 16)) & 0xFFFF_FFFF).ok()
}

/// The value of a claim, typed; its slot is left empty.
pub(crate) fn take<'a>(slot: &mut Slot<'a>) -> Wire<'a> {
    slot.take()
}

#[cfg(test)]
mod tests;
