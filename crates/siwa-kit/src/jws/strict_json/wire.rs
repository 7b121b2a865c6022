//! A member's value typed as JSON typed it ([`Wire`]), read off a text the
//! checker has accepted: for whoever reads members (the header rules, the
//! claims), so that a wrong type becomes a precise error instead of a serde
//! message.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::grammar::{non_digits, unescape_str};
use super::members::Member;

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
}

impl<'a> Wire<'a> {
    /// Types a member's value of an object the strict checker has accepted.
    pub(crate) fn of(member: &Member, text: &'a str) -> Self {
        Self::parse(member.value(text), member.value_escaped())
    }

    /// The text of a string value the strict checker has accepted (quotes
    /// included), unescaped when `escaped`.
    pub(crate) fn string_of(value: &'a str, escaped: bool) -> Cow<'a, str> {
        let inner = value.get(1..value.len() - 1).unwrap_or_default();
        if escaped {
            // The checker accepted every escape: unescaping cannot fail.
            Cow::Owned(unescape_str(inner))
        } else {
            Cow::Borrowed(inner)
        }
    }

    /// Types one JSON value that the strict checker has accepted; `escaped`
    /// tells whether, if a string, it holds escape sequences.
    pub(crate) fn parse(value: &'a str, escaped: bool) -> Self {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'"') => Self::Str(Self::string_of(value, escaped)),
            Some(b't') => Self::Bool(true),
            Some(b'f') => Self::Bool(false),
            Some(b'n') => Self::Null,
            Some(b'{') => Self::Object,
            Some(b'[') => {
                serde_json::from_str::<Vec<Item<'a>>>(value).map_or(Self::Null, Self::Array)
            }
            Some(b'0'..=b'9') => uint(bytes).map_or(Self::Number(Cow::Borrowed(value)), Self::Uint),
            _ => Self::Number(Cow::Borrowed(value)),
        }
    }
}

/// The value of a number written as digits only, if it fits in `u64` (one
/// pass, where `str::parse` would check the digits again).
pub(crate) fn uint(digits: &[u8]) -> Option<u64> {
    let digit = |d: u8| {
        d.is_ascii_digit()
            .then_some(u64::from(d.wrapping_sub(b'0')))
    };
    if digits.len() <= MAX_SAFE_DIGITS {
        // Cannot overflow: no checked arithmetic; eight digits at a time
        // (a time is ten), then one by one.
        let mut chunks = digits.chunks_exact(8);
        let mut n = 0u64;
        for chunk in &mut chunks {
            n = n * 100_000_000 + eight_digits(chunk)?;
        }
        return chunks
            .remainder()
            .iter()
            .try_fold(n, |n, &d| Some(n * 10 + digit(d)?));
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(digit(d)?))
}

/// The value of eight ASCII digits, if they all are digits: in one word,
/// digits paired, then the pairs, then the fours (the first digit is the
/// lowest byte). No step carries out of its lane: a lane's value stays below
/// the next lane's first bit.
fn eight_digits(chunk: &[u8]) -> Option<u64> {
    let word = u64::from_le_bytes(chunk.try_into().ok()?);
    if non_digits(word) != 0 {
        return None;
    }
    // Each byte's value: digits minus '0'.
    let x = word ^ u64::from_le_bytes([b'0'; 8]);
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF)
}

/// Every number of this many decimal digits fits in `u64` (its largest has 20).
const MAX_SAFE_DIGITS: usize = 19;

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

/// Longest member value quoted back in an error.
const MAX_VALUE_IN_ERROR: usize = 80;

/// A value cut short for an error message.
pub(crate) fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_VALUE_IN_ERROR) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}
