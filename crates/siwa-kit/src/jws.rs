//! Compact JWS (RFC 7515): split, strict base64url, strict JSON, and the one
//! place signatures are checked.
//!
//! [`verify`] is the one entry for a signed token: the compact token, where
//! its keys come from ([`KeySource`]; Apple's through
//! [`KeyCache`](crate::jwks::KeyCache)) and the algorithm allowed ([`Rs256`],
//! [`Es256`]) in, the verified payload ([`Verified`]) out: header rules, kid
//! lookup, signature and strict JSON, in that order. Identity tokens and
//! notifications go through it and keep only their claim rules; a service's
//! own tokens go through [`Es256Key`], which signs them too.
//!
//! Splitting is strict: exactly three segments, canonical unpadded base64url
//! (no `=`, no `+`/`/`, no stray trailing bits), size bounded before decoding.
//! Decoded headers and payloads go through [`strict_json`] (UTF-8, no
//! duplicate member names, at most [`MAX_DEPTH`] levels) before any parser
//! sees them.
//!
//! Signatures: ES256 (`client_secret`, a service's own tokens; raw `r || s`)
//! and RS256 (Apple's identity tokens) with an [`RsaPublicKey`] parsed once
//! from its JWK `n` and `e` and reused for every verification.
//!
//! ## Files
//! - `verify.rs`: [`verify`], [`KeySource`], [`Algorithm`] ([`Rs256`],
//!   [`Es256`]), [`Verified`], [`TokenError`]; the header rules and their fast
//!   path for Apple's two header layouts.
//! - `es256_key.rs`: [`Es256Key`], a caller's own ES256 tokens: signing, and
//!   verifying with a `typ` rule ([`ForeignToken`]).
//! - `compact.rs`: [`split`] and [`Parts`], strict segment decoding, the
//!   strict JSON check of a segment, [`JwsError`].
//! - `base64url.rs`: strict unpadded base64url (vector instructions).
//! - `strict_json.rs` and `strict_json/`: the RFC 8259 checker, the
//!   member-span index the claims read, and the fast path for flat objects,
//!   bound by the rule its doc states.
//! - `rsa.rs`: [`RsaPublicKey`] within the accepted sizes, [`verify_rs256`].
//! - `es256.rs`: [`verify_es256`], and [`verify_es256_der`] for diagnosis.

mod base64url;
mod compact;
mod es256;
mod es256_key;
mod rsa;
mod strict_json;
mod verify;

#[cfg(test)]
pub(crate) use compact::strict_object_text;
pub use compact::{
    decode_segment, decode_segment_into, encode, split, strict_json, JwsError, Parts, Segment,
    MAX_TOKEN_LEN,
};
pub(crate) use compact::{strict_json_text, strict_object_str};
pub use es256::{verify_es256, verify_es256_der};
pub use es256_key::{Es256Key, ForeignToken};
pub use rsa::{
    verify_rs256, RsaKeyError, RsaPublicKey, MAX_RSA_BITS, MAX_RSA_SIGNATURE_LEN, MIN_RSA_BITS,
    MIN_RSA_EXPONENT,
};
pub use strict_json::MAX_DEPTH;
pub(crate) use strict_json::{cut, uint, Item, Member, Members, Wire};
pub(crate) use verify::verify_then;
pub use verify::{verify, Algorithm, Es256, KeySource, Rs256, TokenError, Verified};

/// For the `json` fuzz target: whether `bytes` took the fast path, or how the
/// fast path and the checker disagree on them (see `strict_json`'s rule).
#[cfg(fuzzing)]
#[doc(hidden)]
pub fn fast_path_agrees(bytes: &[u8]) -> Result<bool, String> {
    strict_json::fast_path_agrees(bytes)
}

#[cfg(test)]
mod tests;
