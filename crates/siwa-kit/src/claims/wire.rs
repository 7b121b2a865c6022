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
use crate::jws::uint;
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
            value: Some((member.value(text), member.value_escaped())),
        }
    }

    // The readings below give what `take()`'s [`Wire`] reading gives: the
    // types Apple sends are read straight off the text, anything else (and
    // every error) through the `Wire`.

    /// An optional string ([`Wire::string`]).
    pub(crate) fn string(self, claim: &'static str) -> Result<Option<Cow<'a, str>>, ClaimError> {
        match self.value {
            Some((value, escaped)) if value.starts_with('"') => {
                Ok(Some(Wire::string_of(value, escaped)))
            }
            _ => self.wire().string(claim),
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

    /// An optional NumericDate ([`Wire::time`]).
    pub(crate) fn time(self, claim: &'static str) -> Result<Option<UnixTime>, ClaimError> {
        match self.digits() {
            Some(secs) => Ok(Some(UnixTime::from_secs(secs))),
            None => self.wire().time(claim),
        }
    }

    /// A NumericDate that must be there.
    pub(crate) fn required_time(self, claim: &'static str) -> Result<UnixTime, ClaimError> {
        self.time(claim)?.ok_or(ClaimError::Missing { claim })
    }

    /// An optional non-negative integer ([`Wire::uint`]).
    pub(crate) fn uint(self, claim: &'static str) -> Result<Option<u64>, ClaimError> {
        match self.digits() {
            Some(n) => Ok(Some(n)),
            None => self.wire().uint(claim),
        }
    }

    /// An optional flag, a boolean or `"true"`/`"false"` ([`Wire::flag`]).
    pub(crate) fn flag(self, claim: &'static str) -> Result<Option<bool>, ClaimError> {
        match self.value {
            Some(("true" | "\"true\"", _)) => Ok(Some(true)),
            Some(("false" | "\"false\"", _)) => Ok(Some(false)),
            _ => self.wire().flag(claim),
        }
    }

    /// The value when it is an integer within `u64` written as digits only
    /// (what [`Wire::parse`] reads as [`Wire::Uint`]).
    fn digits(self) -> Option<u64> {
        let (value, _) = self.value?;
        match value.as_bytes() {
            digits @ [b'0'..=b'9', ..] => uint(digits),
            _ => None,
        }
    }

    fn wire(mut self) -> Wire<'a> {
        self.take()
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
            // One integer switch per member, not a string compare per name.
            let slot = match name_key(&member.name(text)) {
                ISS => &mut claims.iss,
                AUD => &mut claims.aud,
                AZP => &mut claims.azp,
                SUB => &mut claims.sub,
                EXP => &mut claims.exp,
                IAT => &mut claims.iat,
                NBF => &mut claims.nbf,
                NONCE => &mut claims.nonce,
                NONCE_SUPPORTED => &mut claims.nonce_supported,
                AUTH_TIME => &mut claims.auth_time,
                EMAIL => &mut claims.email,
                EMAIL_VERIFIED => &mut claims.email_verified,
                IS_PRIVATE_EMAIL => &mut claims.is_private_email,
                REAL_USER_STATUS => &mut claims.real_user_status,
                AT_HASH => &mut claims.at_hash,
                C_HASH => &mut claims.c_hash,
                TRANSFER_SUB => &mut claims.transfer_sub,
                JTI => &mut claims.jti,
                EVENTS => &mut claims.events,
                _ => continue,
            };
            *slot = Slot::of(member, text);
        }
        claims
    }
}

/// A member name of at most 16 bytes, exactly, as its length and two words:
/// names are matched against constants with one integer switch each instead
/// of a string compare per candidate. Longer names all map to one key that
/// no constant has (every name read here is shorter).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct NameKey {
    len: usize,
    head: u64,
    tail: u64,
}

/// The [`NameKey`] of `name`: for 8 to 16 bytes the first and the last
/// eight (they overlap below 16, which the length tells apart), for 4 to 7
/// the first and the last four, below that the bytes one by one.
pub(crate) const fn name_key(name: &[u8]) -> NameKey {
    let len = name.len();
    let (head, tail) = if len > 16 {
        (0, 0)
    } else if let (Some(first), Some(last)) = (name.first_chunk::<8>(), name.last_chunk::<8>()) {
        (u64::from_le_bytes(*first), u64::from_le_bytes(*last))
    } else if let (Some(first), Some(last)) = (name.first_chunk::<4>(), name.last_chunk::<4>()) {
        let word = u32::from_le_bytes(*first) as u64 | (u32::from_le_bytes(*last) as u64) << 32;
        (word, 0)
    } else {
        let mut word = 0u64;
        let mut i = 0;
        while i < len {
            word |= (name[i] as u64) << (8 * i);
            i += 1;
        }
        (word, 0)
    };
    NameKey {
        len: if len > 16 { usize::MAX } else { len },
        head,
        tail,
    }
}

const ISS: NameKey = name_key(b"iss");
const AUD: NameKey = name_key(b"aud");
const AZP: NameKey = name_key(b"azp");
pub(crate) const SUB: NameKey = name_key(b"sub");
const EXP: NameKey = name_key(b"exp");
const IAT: NameKey = name_key(b"iat");
const NBF: NameKey = name_key(b"nbf");
const NONCE: NameKey = name_key(b"nonce");
const NONCE_SUPPORTED: NameKey = name_key(b"nonce_supported");
const AUTH_TIME: NameKey = name_key(b"auth_time");
pub(crate) const EMAIL: NameKey = name_key(b"email");
const EMAIL_VERIFIED: NameKey = name_key(b"email_verified");
pub(crate) const IS_PRIVATE_EMAIL: NameKey = name_key(b"is_private_email");
const REAL_USER_STATUS: NameKey = name_key(b"real_user_status");
const AT_HASH: NameKey = name_key(b"at_hash");
const C_HASH: NameKey = name_key(b"c_hash");
const TRANSFER_SUB: NameKey = name_key(b"transfer_sub");
const JTI: NameKey = name_key(b"jti");
const EVENTS: NameKey = name_key(b"events");

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
