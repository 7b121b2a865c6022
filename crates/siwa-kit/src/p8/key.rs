//! The key itself: [`SigningKey`] and [`PublicKey`] parsed from PEM or DER
//! (PKCS#8, SEC1, SubjectPublicKeyInfo), and [`KeyError`] naming what is
//! wrong with a key that is not a P-256 private key.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ParsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use thiserror::Error;
use zeroize::Zeroizing;

use super::der;

use crate::ids::KeyId;

/// Largest key text accepted; a real `.p8` is about 250 bytes.
pub const MAX_KEY_TEXT_LEN: usize = 64 * 1024;

/// Why a key could not be loaded. Never holds key material.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum KeyError {
    /// The input is empty.
    #[error("the key is empty")]
    Empty,
    /// The input is larger than any key file.
    #[error("the key input is {len} bytes, larger than the {max}-byte limit for a key file")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No `-----BEGIN ...-----` block and not DER either.
    #[error("no PEM block found: the input does not contain a -----BEGIN ...----- line")]
    NoPem,
    /// A BEGIN line without its END line.
    #[error("the key is truncated: \"-----BEGIN {label}-----\" has no matching END line")]
    Truncated {
        /// The PEM label.
        label: String,
    },
    /// The text between BEGIN and END is not base64.
    #[error("the {label} block is not valid base64 (the file is damaged or was edited)")]
    BadBase64 {
        /// The PEM label.
        label: String,
    },
    /// The DER inside is cut short or damaged.
    #[error("the key data is malformed: {what}")]
    Malformed {
        /// What is wrong with it.
        what: &'static str,
    },
    /// A certificate, not a key.
    #[error("this is a certificate, not a private key")]
    Certificate,
    /// A public key, not a private key.
    #[error("this is a public key ({label}); a private key is needed")]
    PublicKeyOnly {
        /// The PEM label.
        label: String,
    },
    /// An RSA key.
    #[error("this is an RSA key; Sign in with Apple keys are P-256 elliptic-curve keys")]
    Rsa,
    /// An EC key on another curve.
    #[error("this is an elliptic-curve key on {curve}; Apple's keys are on P-256")]
    OtherCurve {
        /// The curve's name.
        curve: &'static str,
    },
    /// Some other kind of key (Ed25519, DSA...).
    #[error("this is a {kind} key; Sign in with Apple keys are P-256 elliptic-curve keys")]
    NotEc {
        /// The kind of key found.
        kind: &'static str,
    },
    /// A password-protected key.
    #[error("this key is encrypted with a password")]
    Encrypted,
    /// A PEM block of a kind we do not read.
    #[error("the PEM block is \"{label}\", not a private key")]
    UnknownLabel {
        /// The PEM label.
        label: String,
    },
    /// The crypto library refused the key (bad scalar, mismatched public key).
    #[error("the key is not a valid P-256 private key ({reason})")]
    Rejected {
        /// The library's reason.
        reason: String,
    },
}

impl KeyError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Empty | Self::NoPem | Self::TooLarge { .. } => {
                "pass the AuthKey_<KEYID>.p8 file downloaded from the Keys page of developer.apple.com (or its PEM text)"
            }
            Self::Truncated { .. } | Self::BadBase64 { .. } | Self::Malformed { .. } => {
                "the file was cut short or edited: restore it from your secrets store (Apple lets you download a key only once), or create a new key on the Keys page"
            }
            Self::Certificate | Self::PublicKeyOnly { .. } | Self::UnknownLabel { .. } => {
                "use the private key file AuthKey_<KEYID>.p8 that Apple let you download once when you created the key"
            }
            Self::Rsa | Self::OtherCurve { .. } | Self::NotEc { .. } | Self::Rejected { .. } => {
                "create a key with \"Sign in with Apple\" enabled on the Keys page of developer.apple.com and use its .p8 file"
            }
            Self::Encrypted => {
                "decrypt it first: openssl pkcs8 -in encrypted.p8 -out AuthKey_<KEYID>.p8 -nocrypt -topk8"
            }
        }
    }
}

/// Why signing failed (only the random generator can make it fail).
#[derive(Clone, Debug, Error)]
#[error("ECDSA signing failed")]
pub struct SignError;

/// A P-256 private key, ready to sign ES256.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    public: PublicKey,
}

impl SigningKey {
    /// Parses PEM text (PKCS#8 or SEC1; CRLF, missing final newline and
    /// whitespace in place of newlines are fine).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        check_size(text.len())?;
        let block = choose_private_block(pem_blocks(text)?)?;
        match block.label.as_str() {
            "PRIVATE KEY" => classify_pkcs8(&block.der)?,
            "EC PRIVATE KEY" => classify_sec1(&block.der)?,
            _ => return Err(classify_label(&block.label)),
        }
        Self::from_checked_der(&block.der)
    }

    /// Parses DER bytes (PKCS#8 or SEC1).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        check_size(der.len())?;
        if der.is_empty() {
            return Err(KeyError::Empty);
        }
        if classify_pkcs8(der).is_err() {
            classify_sec1(der).or_else(|_| classify_pkcs8(der))?;
        }
        Self::from_checked_der(der)
    }

    /// Parses a file's bytes: PEM text, or DER if the bytes are not text.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        check_size(bytes.len())?;
        match std::str::from_utf8(bytes) {
            Ok(text)
                if text.contains("-----BEGIN") || bytes.first() != Some(&der::TAG_SEQUENCE) =>
            {
                Self::from_pem(text)
            }
            _ => Self::from_der(bytes),
        }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` with ES256, returning the 64-byte `r || s` form that JWS uses.
    pub fn sign_es256(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| SignError)?;
        sig.as_ref().try_into().map_err(|_| SignError)
    }

    fn from_checked_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| KeyError::Rejected {
                reason: e.to_string(),
            })?;
        let public = PublicKey::from_point(pair.public_key().as_ref())?;
        Ok(Self { pair, public })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// A P-256 public key: an uncompressed SEC1 point on the curve. Every way
/// to make one checks the point once and keeps it parsed, so a key that
/// exists can verify, and each verification starts from the parsed key.
#[derive(Clone)]
pub struct PublicKey {
    point: [u8; 65],
    parsed: ParsedPublicKey,
}

impl PublicKey {
    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM (SubjectPublicKeyInfo), or
    /// derives the public key from a private key PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        check_size(text.len())?;
        let blocks = pem_blocks(text)?;
        if let Some(block) = blocks.iter().find(|b| b.label == "PUBLIC KEY") {
            return Self::from_spki_der(&block.der);
        }
        Ok(SigningKey::from_pem(text)?.public)
    }

    /// Parses a DER SubjectPublicKeyInfo of a P-256 key; its point is
    /// checked as [`PublicKey::from_point`] checks it.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        match der.strip_prefix(&SPKI_P256_PREFIX[..]) {
            Some(point) => Self::from_point(point),
            None => Err(classify_spki(der)),
        }
    }

    /// Builds a key from an uncompressed point (`0x04 || x || y`), refusing
    /// any other form and a point that is not on the P-256 curve.
    pub fn from_point(point: &[u8]) -> Result<Self, KeyError> {
        let point = match <[u8; 65]>::try_from(point) {
            Ok(point) if point[0] == 0x04 => point,
            _ => {
                return Err(KeyError::Malformed {
                    what: "a P-256 public point is 65 bytes starting with 0x04",
                })
            }
        };
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(|_| {
            KeyError::Malformed {
                what: "the public point is not on the P-256 curve",
            }
        })?;
        Ok(Self { point, parsed })
    }

    /// The uncompressed point, `0x04 || x || y`.
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// Checks an ES256 signature (`r || s`, 64 bytes) of `message`.
    pub(crate) fn verifies_es256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = SPKI_P256_PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        der
    }

    /// PEM SubjectPublicKeyInfo, byte for byte what `openssl ec -pubout` prints.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(self.spki_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The key as a JWK (RFC 7517/7518), with `kid` when known.
    pub fn to_jwk(&self, kid: Option<&KeyId>) -> serde_json::Value {
        let mut jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&self.point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&self.point[33..]),
            "use": "sig",
            "alg": "ES256",
        });
        if let (Some(kid), Some(obj)) = (kid, jwk.as_object_mut()) {
            obj.insert("kid".into(), kid.as_str().into());
        }
        jwk
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("x", &URL_SAFE_NO_PAD.encode(&self.point[1..33]))
            .finish_non_exhaustive()
    }
}

/// One PEM block: its label and decoded bytes (zeroized on drop).
struct PemBlock {
    label: String,
    der: Zeroizing<Vec<u8>>,
}

fn check_size(len: usize) -> Result<(), KeyError> {
    if len > MAX_KEY_TEXT_LEN {
        return Err(KeyError::TooLarge {
            len,
            max: MAX_KEY_TEXT_LEN,
        });
    }
    Ok(())
}

/// Every `-----BEGIN X-----`...`-----END X-----` block of `text`.
///
/// Lines are not required: whatever sits between the markers is base64 once
/// whitespace is removed, which also undoes CRLF and spaces-for-newlines.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, KeyError> {
    if text.trim().is_empty() {
        return Err(KeyError::Empty);
    }
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        // The label ends on the BEGIN line: a line that lost its closing
        // dashes must not take the key's base64 below it for a label.
        let line = after.split(['\n', '\r']).next().unwrap_or_default();
        let Some(label_end) = line.find("-----") else {
            return Err(KeyError::Truncated {
                label: shown_label(line),
            });
        };
        let label = after[..label_end].trim().to_owned();
        let body_and_rest = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_and_rest.find(&end_marker) else {
            return Err(KeyError::Truncated {
                label: shown_label(&label),
            });
        };
        let body = &body_and_rest[..body_end];
        if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
            return Err(KeyError::Encrypted);
        }
        let b64: Zeroizing<String> =
            Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
        let der = STANDARD
            .decode(b64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| KeyError::BadBase64 {
                label: label.clone(),
            })?;
        blocks.push(PemBlock { label, der });
        rest = &body_and_rest[body_end + end_marker.len()..];
    }
    if blocks.is_empty() {
        return Err(KeyError::NoPem);
    }
    Ok(blocks)
}

/// A label no END line confirmed, as an error may quote it: its leading
/// words that look like a PEM label (upper-case letters and digits), at most
/// 40 characters, then `...` if anything was left out. When the BEGIN line
/// lost its dashes, the rest of the line is the key's base64 (PEM with spaces
/// for newlines), which must not reach a message.
fn shown_label(label: &str) -> String {
    let mut shown = String::new();
    let mut words = label.split_whitespace().peekable();
    while let Some(word) = words.next_if(|w| {
        w.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && shown.len() + w.len() < 40
    }) {
        if !shown.is_empty() {
            shown.push(' ');
        }
        shown.push_str(word);
    }
    if words.peek().is_some() {
        shown.push_str("...");
    }
    shown
}

/// The private-key block, skipping `EC PARAMETERS` that `openssl ecparam -genkey` writes first.
fn choose_private_block(blocks: Vec<PemBlock>) -> Result<PemBlock, KeyError> {
    let mut first_other = None;
    for block in blocks {
        match block.label.as_str() {
            "PRIVATE KEY" | "EC PRIVATE KEY" => return Ok(block),
            "EC PARAMETERS" => {}
            _ => {
                first_other.get_or_insert(block);
            }
        }
    }
    Err(match first_other {
        Some(block) => classify_label(&block.label),
        None => KeyError::UnknownLabel {
            label: "EC PARAMETERS".into(),
        },
    })
}

fn classify_label(label: &str) -> KeyError {
    match label {
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => KeyError::Certificate,
        "PUBLIC KEY" | "EC PUBLIC KEY" | "RSA PUBLIC KEY" => KeyError::PublicKeyOnly {
            label: label.to_owned(),
        },
        "RSA PRIVATE KEY" => KeyError::Rsa,
        "ENCRYPTED PRIVATE KEY" => KeyError::Encrypted,
        "DSA PRIVATE KEY" => KeyError::NotEc { kind: "DSA" },
        "OPENSSH PRIVATE KEY" => KeyError::NotEc { kind: "OpenSSH" },
        other => KeyError::UnknownLabel {
            label: other.to_owned(),
        },
    }
}

/// PKCS#8: `SEQ { INTEGER version, SEQ { OID algorithm, params }, OCTET STRING key, ... }`.
fn classify_pkcs8(der: &[u8]) -> Result<(), KeyError> {
    let outer = read_outer(der)?;
    let fields = der::children(outer.content).ok_or(MALFORMED)?;
    let [version, algorithm, key, ..] = fields.as_slice() else {
        return Err(MALFORMED);
    };
    if version.tag != der::TAG_INTEGER
        || algorithm.tag != der::TAG_SEQUENCE
        || key.tag != der::TAG_OCTET_STRING
    {
        return Err(MALFORMED);
    }
    let algorithm = der::children(algorithm.content).ok_or(MALFORMED)?;
    let oid = algorithm
        .first()
        .filter(|el| el.tag == der::TAG_OID)
        .ok_or(MALFORMED)?;
    match oid.content {
        OID_RSA_ENCRYPTION | OID_RSA_PSS => Err(KeyError::Rsa),
        OID_EC_PUBLIC_KEY => check_curve(algorithm.get(1).map(|el| el.content)),
        OID_ED25519 => Err(KeyError::NotEc { kind: "Ed25519" }),
        OID_X25519 => Err(KeyError::NotEc { kind: "X25519" }),
        OID_DSA => Err(KeyError::NotEc { kind: "DSA" }),
        _ => Err(KeyError::NotEc {
            kind: "non-EC (unknown algorithm)",
        }),
    }
}

/// SEC1: `SEQ { INTEGER 1, OCTET STRING key, [0] OID curve, [1] public key }`.
fn classify_sec1(der: &[u8]) -> Result<(), KeyError> {
    let outer = read_outer(der)?;
    let fields = der::children(outer.content).ok_or(MALFORMED)?;
    let [version, key, rest @ ..] = fields.as_slice() else {
        return Err(MALFORMED);
    };
    if version.tag != der::TAG_INTEGER || version.content != [1] || key.tag != der::TAG_OCTET_STRING
    {
        return Err(MALFORMED);
    }
    let curve = rest
        .iter()
        .find(|el| el.tag == der::TAG_CONTEXT_0)
        .and_then(|el| der::read_whole(el.content))
        .map(|oid| oid.content);
    check_curve(curve)
}

/// Names what a non-P-256 SubjectPublicKeyInfo holds.
fn classify_spki(der: &[u8]) -> KeyError {
    let algorithm = der::read_whole(der)
        .and_then(|outer| der::children(outer.content))
        .and_then(|fields| fields.first().copied())
        .and_then(|alg| der::children(alg.content));
    let Some(algorithm) = algorithm else {
        return MALFORMED;
    };
    match algorithm.first().map(|el| el.content) {
        Some(OID_RSA_ENCRYPTION | OID_RSA_PSS) => KeyError::Rsa,
        Some(OID_EC_PUBLIC_KEY) => match check_curve(algorithm.get(1).map(|el| el.content)) {
            Ok(()) => KeyError::Malformed {
                what: "the P-256 public point is not in uncompressed form",
            },
            Err(e) => e,
        },
        Some(OID_ED25519) => KeyError::NotEc { kind: "Ed25519" },
        _ => MALFORMED,
    }
}

fn read_outer(der: &[u8]) -> Result<der::Element<'_>, KeyError> {
    match der::read(der) {
        Some((outer, [])) if outer.tag == der::TAG_SEQUENCE => Ok(outer),
        Some(_) => Err(MALFORMED),
        None if der.first() == Some(&der::TAG_SEQUENCE) => Err(KeyError::Malformed {
            what: "it is cut short (the DER length says more bytes follow)",
        }),
        None => Err(MALFORMED),
    }
}

fn check_curve(curve_oid: Option<&[u8]>) -> Result<(), KeyError> {
    match curve_oid {
        Some(OID_P256) => Ok(()),
        Some(OID_P384) => Err(KeyError::OtherCurve { curve: "P-384" }),
        Some(OID_P521) => Err(KeyError::OtherCurve { curve: "P-521" }),
        Some(OID_SECP256K1) => Err(KeyError::OtherCurve { curve: "secp256k1" }),
        Some(_) => Err(KeyError::OtherCurve {
            curve: "an unknown curve",
        }),
        None => Err(KeyError::Malformed {
            what: "the elliptic-curve key names no curve",
        }),
    }
}

const MALFORMED: KeyError = KeyError::Malformed {
    what: "it is not a PKCS#8 or SEC1 private key structure",
};

// OID contents (DER, without tag and length).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];

/// DER SubjectPublicKeyInfo header for an uncompressed P-256 point
/// (SEQ { SEQ { ecPublicKey, prime256v1 }, BIT STRING 0x00 || point }).
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

#[cfg(test)]
mod tests;
