//! Claims as they come off the wire: every member we read, kept with its JSON
//! type (`Wire`, defined beside the member spans in `jws`, whose header rules
//! read it too) so a wrong type becomes a precise error instead of a serde
//! message.
//!
//! Used by identity tokens and notifications alike; the payload has already
//! passed `jws::strict_json`, so this parse never sees duplicates or deep
//! nesting.

use std::borrow::Cow;

use super::numeric_date::{self, OutOfRange};
use super::ClaimError;
use crate::clock::UnixTime;
pub(crate) use crate::jws::{cut, Item, Wire};
use crate::jws::{Member, Members};

/// A member's value as written, typed only when taken ([`Slot::take`]):
/// plain data, so filling and dropping a claims struct costs no drop glue,
/// and members never read are never typed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot<'a> {
    /// The value as written, and whether it is a string holding escapes.
    value: Option<(&'a str, bool)>,
}

impl<'a> Slot<'a> {
    /// The member's value, typed; the slot is left empty.
    pub(crate) fn take(&mut self) -> Wire<'a> {
        match self.value.take() {
            Some((value, escaped)) => Wire::parse(value, escaped),
            None => Wire::Absent,
        }
    }

    pub(crate) fn of(member: &Member, text: &'a str) -> Self {
        Self {
            value: Some((member.value(text), member.value_escaped)),
        }
    }
}

/// Every member an identity token or a notification may carry that we read.
#[derive(Debug, Default)]
pub(crate) struct WireClaims<'a> {
    pub(crate) iss: Slot<'a>,
    pub(crate) aud: Slot<'a>,
    pub(crate) azp: Slot<'a>,
    pub(crate) sub: Slot<'a>,
    pub(crate) exp: Slot<'a>,
    pub(crate) iat: Slot<'a>,
    pub(crate) nbf: Slot<'a>,
    pub(crate) nonce: Slot<'a>,
    pub(crate) nonce_supported: Slot<'a>,
    pub(crate) auth_time: Slot<'a>,
    pub(crate) email: Slot<'a>,
    pub(crate) email_verified: Slot<'a>,
    pub(crate) is_private_email: Slot<'a>,
    pub(crate) real_user_status: Slot<'a>,
    pub(crate) at_hash: Slot<'a>,
    pub(crate) c_hash: Slot<'a>,
    pub(crate) transfer_sub: Slot<'a>,
    pub(crate) jti: Slot<'a>,
    pub(crate) events: Slot<'a>,
}

impl<'a> WireClaims<'a> {
    /// Reads the members of a payload that has passed
    /// the strict JSON check (so it is valid JSON without duplicate names).
    pub(crate) fn from_object(text: &'a str, members: &Members) -> Self {
        let mut claims = Self::default();
        for member in members.iter() {
            let slot = match &*member.name(text) {
                b"iss" => &mut claims.iss,
                b"aud" => &mut claims.aud,
                b"azp" => &mut claims.azp,
                b"sub" => &mut claims.sub,
                b"exp" => &mut claims.exp,
                b"iat" => &mut claims.iat,
                b"nbf" => &mut claims.nbf,
                b"nonce" => &mut claims.nonce,
                b"nonce_supported" => &mut claims.nonce_supported,
                b"auth_time" => &mut claims.auth_time,
                b"email" => &mut claims.email,
                b"email_verified" => &mut claims.email_verified,
                b"is_private_email" => &mut claims.is_private_email,
                b"real_user_status" => &mut claims.real_user_status,
                b"at_hash" => &mut claims.at_hash,
                b"c_hash" => &mut claims.c_hash,
                b"transfer_sub" => &mut claims.transfer_sub,
                b"jti" => &mut claims.jti,
                b"events" => &mut claims.events,
                _ => continue,
            };
            *slot = Slot::of(member, text);
        }
        claims
    }
}

/// The claims' readings of a member's value (the type is shared with the
/// header rules of `jws`).
impl<'a> Wire<'a> {
    /// An optional string.
    pub(crate) fn string(self, claim: &'static str) -> Result<Option<Cow<'a, str>>, ClaimError> {
        match self {
            Self::Absent => Ok(None),
            Self::Str(s) => Ok(Some(s)),
            other => Err(type_error(claim, "a string", &other)),
        }
    }

    /// A string that must be there and not be empty.
    pub(crate) fn required_string(self, claim: &'static str) -> Result<Cow<'a, str>, ClaimError> {
        match self.string(claim)? {
            None => Err(ClaimError::Missing { claim }),
            Some(s) if s.is_empty() => Err(ClaimError::Empty { claim }),
            Some(s) => Ok(s),
        }
    }

    /// An optional NumericDate (RFC 7519): a JSON number of seconds since
    /// the epoch, judged by its value. A fraction or an exponent is fine
    /// (`1700000000.5`, `1.7e9`); the time is held as the whole second at or
    /// after the number, read exactly from its text, which gives every check
    /// against a whole-second clock the verdict of the exact value (see
    /// `numeric_date`). Refused: a number below zero (before 1970) or past
    /// `u64::MAX` seconds (a value error), and anything not a number, a
    /// string of digits included (a type error: Apple sends numbers).
    pub(crate) fn time(self, claim: &'static str) -> Result<Option<UnixTime>, ClaimError> {
        match self {
            Self::Absent => Ok(None),
            Self::Uint(n) => Ok(Some(UnixTime::from_secs(n))),
            Self::Number(text) => match numeric_date::ceil_secs(&text) {
                Ok(secs) => Ok(Some(UnixTime::from_secs(secs))),
                Err(OutOfRange::Negative) => Err(ClaimError::Value {
                    claim,
                    reason: format!(
                        "{} is before 1970; a time is a number of seconds since 1970-01-01T00:00:00Z",
                        cut(&text)
                    ),
                }),
                Err(OutOfRange::TooLarge) => Err(ClaimError::Value {
                    claim,
                    reason: format!(
                        "{} is past the last time held, {} seconds since 1970",
                        cut(&text),
                        u64::MAX
                    ),
                }),
                Err(OutOfRange::NotANumber) => Err(ClaimError::Value {
                    claim,
                    reason: format!("{} is not a JSON number", cut(&text)),
                }),
            },
            other => Err(type_error(
                claim,
                "a number of seconds since the epoch",
                &other,
            )),
        }
    }

    /// A NumericDate that must be there.
    pub(crate) fn required_time(self, claim: &'static str) -> Result<UnixTime, ClaimError> {
        self.time(claim)?.ok_or(ClaimError::Missing { claim })
    }

    /// An optional non-negative integer.
    pub(crate) fn uint(self, claim: &'static str) -> Result<Option<u64>, ClaimError> {
        match self {
            Self::Absent => Ok(None),
            Self::Uint(n) => Ok(Some(n)),
            other => Err(type_error(claim, "a non-negative integer", &other)),
        }
    }

    /// An optional flag that Apple sends as a boolean or as `"true"`/`"false"`.
    pub(crate) fn flag(self, claim: &'static str) -> Result<Option<bool>, ClaimError> {
        match self {
            Self::Absent => Ok(None),
            Self::Bool(b) => Ok(Some(b)),
            Self::Str(s) => match &*s {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(ClaimError::Value {
                    claim,
                    reason: format!("{:?} is neither \"true\" nor \"false\"", cut(&s)),
                }),
            },
            other => Err(type_error(claim, "a boolean or \"true\"/\"false\"", &other)),
        }
    }
}

fn type_error(claim: &'static str, expected: &'static str, found: &Wire<'_>) -> ClaimError {
    ClaimError::Type {
        claim,
        expected,
        found: found.kind(),
    }
}
