//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256), the algorithm of Apple's
//! identity tokens and notifications: [`RsaPublicKey`], parsed once from a
//! JWK's `n` and `e` within the accepted sizes, and [`verify_rs256`].

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use thiserror::Error;

use super::compact::JwsError;

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
///
/// The signing input is hashed here, in one call, and the digest checked
/// against the signature: the same check as aws-lc's `verify_sig`, without
/// the digest context it sets up and frees on every call (a tenth of the
/// cost of a verification besides the RSA arithmetic).
pub fn verify_rs256(
    key: &RsaPublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    let digest = digest::digest(&digest::SHA256, signing_input);
    key.key
        .verify_digest_sig(&digest, signature)
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
