//! ES256 (ECDSA P-256 with SHA-256) signatures: [`verify_es256`] for the JWS
//! form (`r || s`, what client secrets and a service's own tokens carry), and
//! [`verify_es256_der`] for the DER form that non-JWS signers produce.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

use super::compact::JwsError;
use crate::p8::PublicKey;

/// Checks an ES256 signature in JWS form (64 bytes, `r || s`).
pub fn verify_es256(
    key: &PublicKey,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), JwsError> {
    if key.verifies_es256(signing_input, signature) {
        Ok(())
    } else {
        Err(JwsError::BadSignature)
    }
}

/// Checks an ECDSA P-256 signature in DER (ASN.1) form: what `openssl_sign`
/// and other non-JWS signers produce. Used only to diagnose that mistake.
pub fn verify_es256_der(key: &PublicKey, signing_input: &[u8], der: &[u8]) -> Result<(), JwsError> {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.point())
        .verify(signing_input, der)
        .map_err(|_| JwsError::BadSignature)
}
