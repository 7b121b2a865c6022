//! Claims as they come off the wire: every member we read, kept with its JSON
//! type so a wrong type becomes a precise error instead of a serde message.
//!
//! Used by identity tokens and notifications alike; the payload has already
//! passed `jws::strict_json`, so this parse never sees duplicates or deep
//! nesting.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::numeric_date::{self, OutOfRange};
use super::ClaimError;
use crate::clock::UnixTime;
use crate::jws::{Member, Members};

/// One member's value, typed as JSON typed it.
#[derive(Debug, Default)]
pub(crate) enum Wire<'a> {
    /// The member is not there.
    #[default]
    Absent,
    Null,
    Bool(bool),
    /// A non-negative integer within `u64`, written without fraction or exponent.
    Uint(u64),
    /// Any other number, as written: negative, with a fraction or an
    /// exponent, or beyond `u64`.
    Number(Cow<'a, str>),
    Str(Cow<'a, str>),
    Array(Vec<Item<'a>>),
    Object,
}

/// A member of an array value. Not a [`Wire`]: without nesting, dropping a
/// `Wire` needs no recursive call, and a claims struct drops in a few
/// instructions (only `aud` may be an array, of strings).
#[derive(Debug)]
pub(crate) enum Item<'a> {
    Str(Cow<'a, str>),
    /// An array (its members are not read).
    Array,
    /// Any other JSON value.
    Other,
}

impl<'a> Wire<'a> {
    /// The JSON type, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Absent => "nothing",
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Uint(_) => "an integer",
            Self::Number(text) if text.contains(['.', 'e', 'E']) => {
                "a number with a fraction or an exponent"
            }
            Self::Number(text) if text.starts_with('-') => "a negative integer",
            Self::Number(_) => "an integer too large",
            Self::Str(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object => "an object",
        }
    }

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

/// Every member an identity token or a notification may carry that we read.
#[derive(Debug, Default)]
pub(crate) struct WireClaims<'a> {
    pub(crate) iss: Wire<'a>,
    pub(crate) aud: Wire<'a>,
    pub(crate) azp: Wire<'a>,
    pub(crate) sub: Wire<'a>,
    pub(crate) exp: Wire<'a>,
    pub(crate) iat: Wire<'a>,
    pub(crate) nbf: Wire<'a>,
    pub(crate) nonce: Wire<'a>,
    pub(crate) nonce_supported: Wire<'a>,
    pub(crate) auth_time: Wire<'a>,
    pub(crate) email: Wire<'a>,
    pub(crate) email_verified: Wire<'a>,
    pub(crate) is_private_email: Wire<'a>,
    pub(crate) real_user_status: Wire<'a>,
    pub(crate) at_hash: Wire<'a>,
    pub(crate) c_hash: Wire<'a>,
    pub(crate) transfer_sub: Wire<'a>,
    pub(crate) jti: Wire<'a>,
    pub(crate) events: Wire<'a>,
}

impl<'a> WireClaims<'a> {
    /// Reads the members of a payload that has passed
    /// `jws::strict_object` (so it is valid JSON without duplicate names).
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
            *slot = Wire::of(member, text);
        }
        claims
    }
}

impl<'a> Wire<'a> {
    /// Types a member's value of an object the strict checker has accepted.
    pub(crate) fn of(member: &Member, text: &'a str) -> Self {
        Self::parse(member.value(text), member.value_escaped)
    }

    /// Types one JSON value that the strict checker has accepted; `escaped`
    /// tells whether, if a string, it holds escape sequences.
    pub(crate) fn parse(value: &'a str, escaped: bool) -> Self {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'"') => {
                let inner = value.get(1..value.len() - 1).unwrap_or_default();
                if escaped {
                    // Escapes are rare in Apple's tokens: let serde_json unescape.
                    serde_json::from_str::<String>(value)
                        .map_or(Self::Null, |s| Self::Str(Cow::Owned(s)))
                } else {
                    Self::Str(Cow::Borrowed(inner))
                }
            }
            Some(b't') => Self::Bool(true),
            Some(b'f') => Self::Bool(false),
            Some(b'n') => Self::Null,
            Some(b'{') => Self::Object,
            Some(b'[') => {
                serde_json::from_str::<Vec<Item<'a>>>(value).map_or(Self::Null, Self::Array)
            }
            Some(b'0'..=b'9') if bytes.iter().all(u8::is_ascii_digit) => value
                .parse()
                .map_or(Self::Number(Cow::Borrowed(value)), Self::Uint),
            _ => Self::Number(Cow::Borrowed(value)),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Wire<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WireVisitor)
    }
}

struct WireVisitor;

impl<'de> Visitor<'de> for WireVisitor {
    type Value = Wire<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Wire::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Wire::Uint(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| Wire::Number(Cow::Owned(v.to_string())), Wire::Uint))
    }

    /// serde_json gives a number with a fraction or an exponent, or an
    /// integer beyond 64 bits, as the nearest `f64`: it is kept as that
    /// double's shortest text (always with `.` or `e`). Only the
    /// `events` claim is read this way; the token's own claims come through
    /// [`Wire::parse`], which keeps the number exactly as written.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Wire::Number(Cow::Owned(format!("{v:?}"))))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Wire::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Wire::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Wire::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Wire::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Wire::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            items.push(item);
        }
        Ok(Wire::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Wire::Object)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Item::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Item::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Item::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Item::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Item::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Item::Other)
    }
}

fn type_error(claim: &'static str, expected: &'static str, found: &Wire<'_>) -> ClaimError {
    ClaimError::Type {
        claim,
        expected,
        found: found.kind(),
    }
}

/// Longest claim value quoted back in an error.
const MAX_VALUE_IN_ERROR: usize = 80;

/// A value cut short for an error message.
pub(crate) fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_IN_ERROR) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}
