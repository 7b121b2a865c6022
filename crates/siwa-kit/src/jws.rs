//! Compact JWS (RFC 7515): split, strict base64url, and the one place
//! signatures are checked.
//!
//! Splitting is strict: exactly three segments, canonical unpadded base64url
//! (no `=`, no `+`/`/`, no stray trailing bits), size bounded before decoding.
//! Decoded headers and payloads go through [`strict_json`] (UTF-8, no
//! duplicate member names, at most [`MAX_DEPTH`] levels) before any parser
//! sees them.
//!
//! Signatures: ES256 (`client_secret`, raw `r || s`) and RS256 (Apple's
//! identity tokens) with an [`RsaPublicKey`] parsed once from its JWK `n` and
//! `e` and reused for every verification.

use std::fmt;

use aws_lc_rs::signature::{
    ParsedPublicKey, RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use thiserror::Error;

use crate::p8::PublicKey;

mod base64url;
mod strict_json;

pub use strict_json::MAX_DEPTH;
pub(crate) use strict_json::{Member, Members};

/// For the `json` fuzz target: whether `bytes` took the fast path, or how the
/// fast path and the checker disagree on them (see `strict_json`'s rule).
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn fast_path_agrees(bytes: &[u8]) -> Result<bool, String> {
    strict_json::fast_path_agrees(bytes)
}

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
    let len =
        base64url::decode_into(text, out).map_err(|reason| JwsError::Base64 { segment, reason })?;
    Ok(&out[..len])
}

/// Decodes into `buf` when the result fits, else into a new `Vec`.
pub(crate) fn decode_segment_buffered<'b>(
    text: &str,
    segment: Segment,
    buf: &'b mut [u8],
) -> Result<std::borrow::Cow<'b, [u8]>, JwsError> {
    if base64url::decoded_len(text).is_some_and(|len| len <= buf.len()) {
        decode_segment_into(text, segment, buf).map(std::borrow::Cow::Borrowed)
    } else {
        decode_segment(text, segment).map(std::borrow::Cow::Owned)
    }
}

/// Checks that a decoded header or payload is strict JSON and returns it as
/// text: UTF-8, RFC 8259's grammar, a top-level object, no member named twice
/// in one object, at most [`MAX_DEPTH`] levels. Runs without recursion.
pub fn strict_json(bytes: &[u8], segment: Segment) -> Result<&str, JwsError> {
    strict_json::check(bytes).map_err(|problem| problem_error(problem, segment))
}

fn problem_error(problem: strict_json::Problem, segment: Segment) -> JwsError {
    match problem {
        strict_json::Problem::Utf8 { offset } => JwsError::Utf8 { segment, offset },
        strict_json::Problem::Syntax { offset, expected } => JwsError::Json {
            segment,
            offset,
            expected,
        },
        strict_json::Problem::TooDeep => JwsError::TooDeep {
            segment,
            max: MAX_DEPTH,
        },
        strict_json::Problem::Duplicate { name } => JwsError::DuplicateMember { segment, name },
        strict_json::Problem::NotObject => JwsError::NotObject { segment },
    }
}

/// [`strict_json`], also returning the spans of the top-level members.
pub(crate) fn strict_object<'b>(
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

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks an ES256 signature in JWS form (64 bytes, `r || s`).
pub fn verify_es256(
    key: &PublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.point())
        .verify(signing_input, signature)
        .map_err(|_| JwsError::BadSignature)
}

/// Checks an ECDSA P-256 signature in DER (ASN.1) form: what `openssl_sign`
/// and other non-JWS signers produce. Used only to diagnose that mistake.
pub fn verify_es256_der(key: &PublicKey, signing_input: &[u8], der: &[u8]) -> Result<(), JwsError> {
    UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, key.point())
        .verify(signing_input, der)
        .map_err(|_| JwsError::BadSignature)
}

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds the cost of one check).
pub const MAX_RSA_BITS: usize = 8192;
/// Smallest public exponent accepted (F4, what Apple and every modern key use).
pub const MIN_RSA_EXPONENT: u64 = 65_537;
/// Longest RS256 signature: that of a [`MAX_RSA_BITS`] key.
pub const MAX_RSA_SIGNATURE_LEN: usize = MAX_RSA_BITS / 8;

/// Why RSA public key components were refused.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum RsaKeyError {
    /// A modulus outside [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
    #[error("the RSA modulus has {bits} bits; accepted are {min} to {max}")]
    ModulusSize {
        /// Bits of the modulus given.
        bits: usize,
        /// [`MIN_RSA_BITS`].
        min: usize,
        /// [`MAX_RSA_BITS`].
        max: usize,
    },
    /// A public exponent that is even, below [`MIN_RSA_EXPONENT`], or over 64 bits.
    #[error("the RSA public exponent is refused: {reason}")]
    Exponent {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Components the crypto library does not accept as an RSA public key.
    #[error("the RSA public key components are malformed")]
    Malformed,
}

impl RsaKeyError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::ModulusSize { .. } => {
                "use an RSA key of 2048 bits or more (Apple's are 2048); a smaller one can be forged"
            }
            Self::Exponent { .. } => "use the standard public exponent 65537 (\"e\":\"AQAB\")",
            Self::Malformed => "take n and e unchanged from the key set (base64url, big-endian)",
        }
    }
}

/// An RSA public key ready for RS256: parsed once from its modulus and
/// exponent, then reused for every verification (it is `Send + Sync`).
#[derive(Clone)]
pub struct RsaPublicKey {
    key: ParsedPublicKey,
    bits: usize,
}

impl RsaPublicKey {
    /// Parses big-endian `n` and `e` (a JWK's `n` and `e`, decoded). Leading
    /// zero bytes are ignored. Refuses a modulus outside
    /// [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`] and an exponent that is even or
    /// below [`MIN_RSA_EXPONENT`].
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, RsaKeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = bit_length(n);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(RsaKeyError::ModulusSize {
                bits,
                min: MIN_RSA_BITS,
                max: MAX_RSA_BITS,
            });
        }
        if e.len() > 8 {
            return Err(RsaKeyError::Exponent {
                reason: "it is longer than 64 bits",
            });
        }
        let exponent = e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        if exponent % 2 == 0 {
            return Err(RsaKeyError::Exponent {
                reason: "it is even",
            });
        }
        if exponent < MIN_RSA_EXPONENT {
            return Err(RsaKeyError::Exponent {
                reason: "it is below 65537",
            });
        }
        let key = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| RsaKeyError::Malformed)?;
        Ok(Self { key, bits })
    }

    /// The size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.bits)
            .finish()
    }
}

/// Checks an RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256): the only
/// algorithm of Apple's identity tokens and notifications.
pub fn verify_rs256(
    key: &RsaPublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    key.key
        .verify_sig(signing_input, signature)
        .map_err(|_| JwsError::BadSignature)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Bits of a big-endian number without leading zero bytes.
fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_segments() {
        let parts = split("aGVhZA.cGF5.c2ln").unwrap();
        assert_eq!(parts.header(), "aGVhZA");
        assert_eq!(parts.payload(), "cGF5");
        assert_eq!(parts.signature(), "c2ln");
        assert_eq!(parts.signing_input(), b"aGVhZA.cGF5");
        assert_eq!(parts.decode(Segment::Header).unwrap(), b"head");
    }

    #[test]
    fn rejects_wrong_segment_counts() {
        assert_eq!(
            split("a.b").unwrap_err(),
            JwsError::SegmentCount { count: 2 }
        );
        assert_eq!(
            split("a.b.c.d").unwrap_err(),
            JwsError::SegmentCount { count: 4 }
        );
        assert_eq!(
            split("abc").unwrap_err(),
            JwsError::SegmentCount { count: 1 }
        );
    }

    #[test]
    fn rejects_non_canonical_base64() {
        for bad in ["aGVhZA==", "a+b/", "aGVhZB", "a", "a*bc"] {
            assert!(decode_segment(bad, Segment::Payload).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_size_before_decoding() {
        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(split(&big), Err(JwsError::TooLarge { .. })));
    }
}
