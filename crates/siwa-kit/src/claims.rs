//! The claims of a verified identity token, typed.
//!
//! Apple's quirks are absorbed here: `email_verified` and `is_private_email`
//! arrive as the strings `"true"`/`"false"` (2019–2023) or as booleans (2024
//! on) and are exposed as `bool`; `real_user_status` is an integer exposed as
//! [`RealUserStatus`]. Anything not typed here is in [`Claims::raw_json`].

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::clock::UnixTime;
use crate::secret_string;

mod numeric_date;
pub(crate) mod wire;

/// A claim that is missing, of the wrong JSON type, or holds a bad value.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum ClaimError {
    /// A claim that must be there is not.
    #[error("the {claim:?} claim is missing")]
    Missing {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim that must not be empty is the empty string.
    #[error("the {claim:?} claim is empty")]
    Empty {
        /// The claim's name.
        claim: &'static str,
    },
    /// A claim of the wrong JSON type (e.g. `"exp":"1700000000"`, a string).
    #[error("the {claim:?} claim is {found}; it must be {expected}")]
    Type {
        /// The claim's name.
        claim: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What JSON type it is.
        found: &'static str,
    },
    /// A claim of the right type with a value outside its range.
    #[error("the {claim:?} claim is invalid: {reason}")]
    Value {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
}

impl ClaimError {
    /// The claim concerned.
    pub fn claim(&self) -> &'static str {
        match self {
            Self::Missing { claim }
            | Self::Empty { claim }
            | Self::Type { claim, .. }
            | Self::Value { claim, .. } => claim,
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Missing { .. } | Self::Empty { .. } => {
                "Apple's tokens always carry iss, aud, sub, exp and iat: this token was not made by Apple"
            }
            Self::Type { .. } => {
                "Apple sends times as JSON numbers and ids as strings; a token with other types was not made by Apple (hand-decoded copies in blogs often show strings)"
            }
            Self::Value { .. } => "the token holds a value Apple does not send; do not accept it",
        }
    }
}

/// How likely Apple thinks the user is a real person (`real_user_status`,
/// native apps only).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum RealUserStatus {
    /// 0: the platform cannot tell (not iOS 14+, or the web).
    Unsupported,
    /// 1: Apple does not know; treat as a normal user.
    Unknown,
    /// 2: very likely a real person.
    LikelyReal,
}

impl RealUserStatus {
    /// From Apple's integer.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::Unsupported),
            1 => Some(Self::Unknown),
            2 => Some(Self::LikelyReal),
            _ => None,
        }
    }

    /// Apple's integer.
    pub fn code(self) -> u8 {
        match self {
            Self::Unsupported => 0,
            Self::Unknown => 1,
            Self::LikelyReal => 2,
        }
    }
}

secret_string!(
    /// A nonce: the value an app sent to Apple to bind a token to its sign-in
    /// attempt. Compare it with [`crate::id_token::NoncePolicy`] (constant
    /// time).
    Nonce,
    "**Secret** until used: whoever holds it can replay the sign-in it protects. Do not log it."
);

/// A claim's text: a span of the raw payload (the usual case: no escapes),
/// or its own copy.
#[derive(Clone)]
pub(crate) enum Text {
    Span { start: u32, end: u32 },
    Owned(Box<str>),
}

impl Text {
    /// The text of `value`, a string read out of `raw` (or unescaped from it).
    #[inline]
    pub(crate) fn of(raw: &str, value: Cow<'_, str>) -> Self {
        match value {
            Cow::Borrowed(s) => {
                // Where `s` lies in `raw`'s memory, if it does (both are
                // borrowed, so live: no need to compare the text). A str
                // inside another starts and ends on its char boundaries, so
                // `get` will give it back.
                let start = (s.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
                let inside = start <= raw.len() && s.len() <= raw.len() - start;
                match (
                    u32::try_from(start),
                    u32::try_from(start.wrapping_add(s.len())),
                ) {
                    (Ok(start), Ok(end)) if inside => Self::Span { start, end },
                    _ => Self::Owned(s.into()),
                }
            }
            Cow::Owned(s) => Self::Owned(s.into_boxed_str()),
        }
    }

    /// The text, given the raw payload it may point into.
    pub(crate) fn get<'a>(&'a self, raw: &'a str) -> &'a str {
        match self {
            Self::Span { start, end } => {
                raw.get(*start as usize..*end as usize).unwrap_or_default()
            }
            Self::Owned(s) => s,
        }
    }
}

/// The claims of a verified identity token.
///
/// Only a [`crate::Verifier`] makes one, after the signature, issuer,
/// audience, times and nonce have been checked. `Debug` leaves out the nonce
/// and the raw JSON.
#[derive(Clone)]
pub struct Claims {
    pub(crate) iss: Text,
    pub(crate) sub: Text,
    /// The first `aud`, and any others (Apple sends one).
    pub(crate) aud: Text,
    pub(crate) aud_more: Vec<Text>,
    pub(crate) azp: Option<Text>,
    pub(crate) exp: UnixTime,
    pub(crate) iat: UnixTime,
    pub(crate) auth_time: Option<UnixTime>,
    pub(crate) email: Option<Text>,
    pub(crate) email_verified: Option<bool>,
    pub(crate) is_private_email: Option<bool>,
    pub(crate) real_user_status: Option<RealUserStatus>,
    /// `nonce`, as text of the payload; made a [`Nonce`] when first asked for
    /// (most callers never do: the verifier has already compared it).
    pub(crate) nonce: Option<Text>,
    pub(crate) nonce_secret: OnceLock<Option<Nonce>>,
    pub(crate) nonce_supported: Option<bool>,
    pub(crate) at_hash: Option<Text>,
    pub(crate) c_hash: Option<Text>,
    pub(crate) transfer_sub: Option<Text>,
    pub(crate) raw: String,
}

impl Claims {
    /// `sub`: the user's stable identifier, pairwise per team
    /// (`000123.<32 hex>.0456`). Key your users by this, never by email.
    pub fn sub(&self) -> &str {
        self.sub.get(&self.raw)
    }

    /// `iss`: the issuer (`https://appleid.apple.com`).
    pub fn issuer(&self) -> &str {
        self.iss.get(&self.raw)
    }

    /// The client id the token was issued to: `azp` when the token names
    /// several audiences, else its one `aud`. Always one of the accepted
    /// audiences.
    pub fn audience(&self) -> &str {
        self.azp.as_ref().unwrap_or(&self.aud).get(&self.raw)
    }

    /// Every `aud` value (Apple sends exactly one).
    pub fn audiences(&self) -> Vec<&str> {
        std::iter::once(&self.aud)
            .chain(&self.aud_more)
            .map(|t| t.get(&self.raw))
            .collect()
    }

    /// `exp`: when the token stops being valid. A time with a fraction
    /// (RFC 7519 allows one; Apple sends whole seconds) is rounded up: this
    /// is the first whole second at which the token is expired.
    pub fn expires_at(&self) -> UnixTime {
        self.exp
    }

    /// `iat`: when Apple issued the token (a fraction rounded up to the
    /// whole second).
    pub fn issued_at(&self) -> UnixTime {
        self.iat
    }

    /// `auth_time`: when the user authenticated (a fraction rounded up to
    /// the whole second).
    pub fn auth_time(&self) -> Option<UnixTime> {
        self.auth_time
    }

    /// `email`: present only when the email scope was granted (and not
    /// always after the first sign-in). May be a private relay address.
    pub fn email(&self) -> Option<&str> {
        self.text(self.email.as_ref())
    }

    /// `email_verified`, whether Apple sent it as a string or a boolean.
    pub fn email_verified(&self) -> Option<bool> {
        self.email_verified
    }

    /// `is_private_email`: the email is an `@privaterelay.appleid.com` relay.
    pub fn is_private_email(&self) -> Option<bool> {
        self.is_private_email
    }

    /// `real_user_status` (native apps only).
    pub fn real_user_status(&self) -> Option<RealUserStatus> {
        self.real_user_status
    }

    /// `nonce`, as it is in the token (already checked by the verifier when
    /// a [`crate::id_token::NoncePolicy`] asked for it).
    pub fn nonce(&self) -> Option<&Nonce> {
        self.nonce_secret
            .get_or_init(|| self.text(self.nonce.as_ref()).map(Nonce::new))
            .as_ref()
    }

    /// `nonce_supported`: whether the platform supports nonces.
    pub fn nonce_supported(&self) -> Option<bool> {
        self.nonce_supported
    }

    /// `at_hash` (tokens from `/auth/token`).
    pub fn at_hash(&self) -> Option<&str> {
        self.text(self.at_hash.as_ref())
    }

    /// `c_hash` (tokens delivered with an authorization code).
    pub fn c_hash(&self) -> Option<&str> {
        self.text(self.c_hash.as_ref())
    }

    /// `transfer_sub`: the user's identifier during an app transfer between teams.
    pub fn transfer_sub(&self) -> Option<&str> {
        self.text(self.transfer_sub.as_ref())
    }

    /// The payload exactly as signed, for claims not typed here
    /// (`serde_json::from_str(claims.raw_json())`). It holds the nonce: do
    /// not log it.
    pub fn raw_json(&self) -> &str {
        &self.raw
    }

    fn text<'a>(&'a self, text: Option<&'a Text>) -> Option<&'a str> {
        text.map(|t| t.get(&self.raw))
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iss", &self.issuer())
            .field("sub", &self.sub())
            .field("aud", &self.audiences())
            .field("azp", &self.text(self.azp.as_ref()))
            .field("exp", &self.exp.secs())
            .field("iat", &self.iat.secs())
            .field("auth_time", &self.auth_time.map(UnixTime::secs))
            .field("email", &self.email())
            .field("email_verified", &self.email_verified)
            .field("is_private_email", &self.is_private_email)
            .field("real_user_status", &self.real_user_status)
            .field("nonce", &self.nonce())
            .field("nonce_supported", &self.nonce_supported)
            .field("at_hash", &self.at_hash())
            .field("c_hash", &self.c_hash())
            .field("transfer_sub", &self.transfer_sub())
            .finish_non_exhaustive()
    }
}

/// The normalised claims: Apple's names, times as integers (a fraction
/// rounded up to the whole second), the two flags as booleans,
/// `real_user_status` as its integer, `aud` as a string when it is one.
/// Absent claims are left out. This includes the nonce.
impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Aud<'a> {
            One(&'a str),
            Many(Vec<&'a str>),
        }
        #[derive(Serialize)]
        struct Normalised<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: Aud<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            azp: Option<&'a str>,
            exp: u64,
            iat: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            auth_time: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            email: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            email_verified: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            is_private_email: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            real_user_status: Option<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            nonce: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            nonce_supported: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            at_hash: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            c_hash: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            transfer_sub: Option<&'a str>,
        }
        let aud = if self.aud_more.is_empty() {
            Aud::One(self.aud.get(&self.raw))
        } else {
            Aud::Many(self.audiences())
        };
        Normalised {
            iss: self.issuer(),
            sub: self.sub(),
            aud,
            azp: self.text(self.azp.as_ref()),
            exp: self.exp.secs(),
            iat: self.iat.secs(),
            auth_time: self.auth_time.map(UnixTime::secs),
            email: self.email(),
            email_verified: self.email_verified,
            is_private_email: self.is_private_email,
            real_user_status: self.real_user_status.map(RealUserStatus::code),
            nonce: self.text(self.nonce.as_ref()),
            nonce_supported: self.nonce_supported,
            at_hash: self.at_hash(),
            c_hash: self.c_hash(),
            transfer_sub: self.transfer_sub(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests;
