//! The key set document: [`Jwk`] and [`JwkSet`] as `/auth/keys` serves them,
//! read strictly, and each key judged for Apple's tokens ([`Jwk::to_rsa_key`]).

use serde::{Deserialize, Serialize};

use super::error::{cut, JwksError, KeyProblem};
use crate::jws::{self, RsaPublicKey};

/// One JSON Web Key, as a key set publishes it. Members other than these are
/// ignored.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type: `RSA` for Apple.
    pub kty: String,
    /// Key id, matched against a token's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended use: `sig` for Apple.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Algorithm: `RS256` for Apple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Permitted operations, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl Jwk {
    /// An RS256 signing key as Apple publishes one, from its big-endian
    /// modulus and exponent.
    pub fn rsa(kid: impl Into<String>, n: &[u8], e: &[u8]) -> Self {
        Self {
            kty: "RSA".to_owned(),
            kid: Some(kid.into()),
            key_use: Some("sig".to_owned()),
            alg: Some("RS256".to_owned()),
            key_ops: None,
            n: Some(jws::encode(n)),
            e: Some(jws::encode(e)),
        }
    }

    /// The key parsed for RS256, or why it cannot verify Apple's tokens.
    pub fn to_rsa_key(&self) -> Result<RsaPublicKey, KeyProblem> {
        if self.kty != "RSA" {
            return Err(KeyProblem::NotRsa {
                kty: cut(&self.kty),
            });
        }
        if let Some(found) = self.key_use.as_deref().filter(|u| *u != "sig") {
            return Err(KeyProblem::Use { found: cut(found) });
        }
        if let Some(found) = self.alg.as_deref().filter(|a| *a != "RS256") {
            return Err(KeyProblem::Alg { found: cut(found) });
        }
        if let Some(ops) = self
            .key_ops
            .as_ref()
            .filter(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err(KeyProblem::KeyOps {
                found: ops.iter().take(8).map(|op| cut(op)).collect(),
            });
        }
        let n = decode_member(self.n.as_deref(), "n")?;
        let e = decode_member(self.e.as_deref(), "e")?;
        Ok(RsaPublicKey::from_components(&n, &e)?)
    }
}

/// A JSON Web Key Set: `{"keys":[...]}`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[non_exhaustive]
pub struct JwkSet {
    /// The keys, in the order published.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set of these keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        Self { keys }
    }

    /// Parses a key set document (strict JSON: UTF-8, no duplicate members).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let text = jws::strict_json_text(bytes).map_err(|reason| JwksError::Json { reason })?;
        serde_json::from_str(text).map_err(|e| JwksError::Shape {
            reason: e.to_string(),
        })
    }

    /// The set as JSON, as `/auth/keys` serves it.
    pub fn to_json(&self) -> String {
        // A struct of strings serializes without fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn decode_member(value: Option<&str>, member: &'static str) -> Result<Vec<u8>, KeyProblem> {
    let value = value.ok_or(KeyProblem::Missing { member })?;
    jws::decode_segment(value, jws::Segment::Payload).map_err(|_| KeyProblem::Encoding { member })
}
