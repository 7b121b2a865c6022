//! The compact serialization: [`split`] at the dots, strict base64url
//! decoding of each segment, and the strict JSON check of a decoded header or
//! payload, each failure a [`JwsError`] naming the segment.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use base64_simd::Out;
use thiserror::Error;

use super::base64url;
use super::strict_json::{self, Members, Problem, MAX_DEPTH};

/// Largest compact JWS accepted, checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Which segment of a compact JWS.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Segment {
    /// The protected header.
    Header,
    /// The payload (claims).
    Payload,
    /// The signature.
    Signature,
}

impl Segment {
    /// The segment's name, as used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        }
    }
}

/// Why a compact JWS could not be split or decoded.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum JwsError {
    /// Larger than [`MAX_TOKEN_LEN`].
    #[error("the token is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three dot-separated segments.
    #[error("the token has {count} segments; a compact JWS has 3 (header.payload.signature)")]
    SegmentCount {
        /// Segments found.
        count: usize,
    },
    /// A segment that is not canonical unpadded base64url.
    #[error("the {} segment is not canonical unpadded base64url: {reason}", segment.name())]
    Base64 {
        /// Which segment.
        segment: Segment,
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature does not verify.
    #[error("the signature does not verify with the given key")]
    BadSignature,
    /// A decoded segment that is not UTF-8 (or holds an escaped lone surrogate).
    #[error("the {} is not valid UTF-8 (at byte {offset})", segment.name())]
    Utf8 {
        /// Which segment.
        segment: Segment,
        /// Byte offset of the first bad byte in the decoded segment.
        offset: usize,
    },
    /// A decoded segment that is not JSON by RFC 8259's grammar.
    #[error("the {} is not strict JSON: expected {expected} at byte {offset}", segment.name())]
    Json {
        /// Which segment.
        segment: Segment,
        /// Byte offset in the decoded segment.
        offset: usize,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// A decoded segment whose top level is not a JSON object.
    #[error("the {} is not a JSON object", segment.name())]
    NotObject {
        /// Which segment.
        segment: Segment,
    },
    /// JSON nested deeper than [`MAX_DEPTH`] levels.
    #[error("the {} nests JSON deeper than {max} levels", segment.name())]
    TooDeep {
        /// Which segment.
        segment: Segment,
        /// The limit.
        max: usize,
    },
    /// An object naming the same member twice.
    #[error("the {} names the member {name:?} twice", segment.name())]
    DuplicateMember {
        /// Which segment.
        segment: Segment,
        /// The member name (unescaped, cut at 64 characters).
        name: String,
    },
}

impl JwsError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "pass only the token itself; Apple's tokens are about 1 KB",
            Self::SegmentCount { .. } | Self::Base64 { .. } => {
                "pass the compact JWT exactly as received: three base64url segments joined by dots, no spaces, quotes or padding"
            }
            Self::BadSignature => {
                "the token was altered or not signed by this key: never accept it; fetch a fresh key set if keys rotated"
            }
            Self::Utf8 { .. }
            | Self::Json { .. }
            | Self::NotObject { .. }
            | Self::TooDeep { .. }
            | Self::DuplicateMember { .. } => {
                "the token is malformed or forged: Apple signs plain JSON objects with unique member names"
            }
        }
    }
}

/// The three segments of a compact JWS, still encoded.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    token: &'a str,
    header_end: usize,
    payload_end: usize,
}

impl<'a> Parts<'a> {
    /// The encoded header.
    pub fn header(&self) -> &'a str {
        &self.token[..self.header_end]
    }

    /// The encoded payload.
    pub fn payload(&self) -> &'a str {
        &self.token[self.header_end + 1..self.payload_end]
    }

    /// The encoded signature.
    pub fn signature(&self) -> &'a str {
        &self.token[self.payload_end + 1..]
    }

    /// `header.payload`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a [u8] {
        &self.token.as_bytes()[..self.payload_end]
    }

    /// Decodes one segment strictly.
    pub fn decode(&self, segment: Segment) -> Result<Vec<u8>, JwsError> {
        let text = match segment {
            Segment::Header => self.header(),
            Segment::Payload => self.payload(),
            Segment::Signature => self.signature(),
        };
        decode_segment(text, segment)
    }
}

/// Splits a compact JWS into its three segments (no decoding yet).
pub fn split(token: &str) -> Result<Parts<'_>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    // The first and the last dot, searched from each end with the CPU's
    // vector instructions: only the payload is scanned in full.
    let bytes = token.as_bytes();
    match (memchr::memchr(b'.', bytes), memchr::memrchr(b'.', bytes)) {
        (Some(header_end), Some(payload_end))
            if header_end < payload_end
                && memchr::memchr(b'.', &bytes[header_end + 1..payload_end]).is_none() =>
        {
            Ok(Parts {
                token,
                header_end,
                payload_end,
            })
        }
        _ => Err(JwsError::SegmentCount {
            count: token.matches('.').count() + 1,
        }),
    }
}

/// Decodes canonical unpadded base64url, naming the segment on failure.
pub fn decode_segment(text: &str, segment: Segment) -> Result<Vec<u8>, JwsError> {
    base64url::decode(text).map_err(|reason| JwsError::Base64 { segment, reason })
}

/// Decodes canonical unpadded base64url into `out`, naming the segment on
/// failure; for segments of bounded size (signatures), without allocating.
pub fn decode_segment_into<'b>(
    text: &str,
    segment: Segment,
    out: &'b mut [u8],
) -> Result<&'b [u8], JwsError> {
    decode_segment_out(text, segment, Out::from_slice(out))
}

/// [`decode_segment_into`] into a buffer that need not be initialised (a
/// signature's kilobyte is not zeroed on every verification).
pub(super) fn decode_segment_uninit<'b>(
    text: &str,
    segment: Segment,
    out: &'b mut [MaybeUninit<u8>],
) -> Result<&'b [u8], JwsError> {
    decode_segment_out(text, segment, Out::from_uninit_slice(out))
}

fn decode_segment_out<'b>(
    text: &str,
    segment: Segment,
    out: Out<'b, [u8]>,
) -> Result<&'b [u8], JwsError> {
    base64url::decode_into(text, out).map_err(|reason| JwsError::Base64 { segment, reason })
}

/// Decodes into `buf` when the result fits, else into a new `Vec`.
pub(super) fn decode_segment_buffered<'b>(
    text: &str,
    segment: Segment,
    buf: &'b mut [u8],
) -> Result<Cow<'b, [u8]>, JwsError> {
    if base64url::decoded_len(text).is_some_and(|len| len <= buf.len()) {
        decode_segment_into(text, segment, buf).map(Cow::Borrowed)
    } else {
        decode_segment(text, segment).map(Cow::Owned)
    }
}

/// Checks that a decoded header or payload is strict JSON and returns it as
/// text: UTF-8, RFC 8259's grammar, a top-level object, no member named twice
/// in one object, at most [`MAX_DEPTH`] levels. Runs without recursion.
pub fn strict_json(bytes: &[u8], segment: Segment) -> Result<&str, JwsError> {
    strict_json::check(bytes).map_err(|problem| problem_error(problem, segment))
}

fn problem_error(problem: Problem, segment: Segment) -> JwsError {
    match problem {
        Problem::Utf8 { offset } => JwsError::Utf8 { segment, offset },
        Problem::Syntax { offset, expected } => JwsError::Json {
            segment,
            offset,
            expected,
        },
        Problem::TooDeep => JwsError::TooDeep {
            segment,
            max: MAX_DEPTH,
        },
        Problem::Duplicate { name } => JwsError::DuplicateMember { segment, name },
        Problem::NotObject => JwsError::NotObject { segment },
    }
}

/// [`strict_json`], also returning the spans of the top-level members.
pub(super) fn strict_object<'b>(
    bytes: &'b [u8],
    segment: Segment,
    members: &mut Members,
) -> Result<&'b str, JwsError> {
    strict_json::check_object(bytes, members).map_err(|problem| problem_error(problem, segment))
}

/// [`strict_object`] for a segment already decoded into a `String`.
pub(crate) fn strict_object_text(
    text: &str,
    segment: Segment,
    members: &mut Members,
) -> Result<(), JwsError> {
    strict_json::check_text(text, members).map_err(|problem| problem_error(problem, segment))
}

/// [`strict_json`] for JSON that is not a JWS segment (a key set, a
/// notification body): the problem as a sentence.
pub(crate) fn strict_json_text(bytes: &[u8]) -> Result<&str, String> {
    strict_json::check(bytes).map_err(|problem| problem.to_string())
}

/// [`strict_json_text`] for a JSON object already held as text (so it is not
/// checked for UTF-8 twice), with the spans of its members (for the flat
/// readers of `claims::wire`, instead of serde).
pub(crate) fn strict_object_str(text: &str, members: &mut Members) -> Result<(), String> {
    strict_json::check_text(text, members).map_err(|problem| problem.to_string())
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
