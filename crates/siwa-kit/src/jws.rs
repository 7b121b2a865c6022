//! Compact JWS (RFC 7515): split, strict base64url, and the one place
//! signatures are checked.
//!
//! Splitting is strict: exactly three segments, canonical unpadded base64url
//! (no `=`, no `+`/`/`, no stray trailing bits), size bounded before decoding.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thiserror::Error;

use crate::p8::PublicKey;

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
    let mut dots = token.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next(), dots.next()) {
        (Some(header_end), Some(payload_end), None) => Ok(Parts {
            token,
            header_end,
            payload_end,
        }),
        _ => Err(JwsError::SegmentCount {
            count: token.matches('.').count() + 1,
        }),
    }
}

/// Decodes canonical unpadded base64url, naming the segment on failure.
pub fn decode_segment(text: &str, segment: Segment) -> Result<Vec<u8>, JwsError> {
    let reason = if text.contains('=') {
        "it has '=' padding"
    } else if text.contains(['+', '/']) {
        "it uses '+' or '/' (standard base64) instead of '-' and '_'"
    } else {
        match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) => return Ok(bytes),
            Err(base64::DecodeError::InvalidLastSymbol(..)) => "its last character has stray bits",
            Err(base64::DecodeError::InvalidLength(_)) => "its length is impossible for base64",
            Err(_) => "it holds characters outside the base64url alphabet",
        }
    };
    Err(JwsError::Base64 { segment, reason })
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks an ES256 signature in JWS form (64 bytes, `r || s`).
pub fn verify_es256(key: &PublicKey, signing_input: &[u8], signature: &[u8]) -> Result<(), JwsError> {
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
        assert_eq!(split("a.b").unwrap_err(), JwsError::SegmentCount { count: 2 });
        assert_eq!(split("a.b.c.d").unwrap_err(), JwsError::SegmentCount { count: 4 });
        assert_eq!(split("abc").unwrap_err(), JwsError::SegmentCount { count: 1 });
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
