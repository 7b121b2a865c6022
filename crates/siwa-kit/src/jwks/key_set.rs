//! [`KeySet`]: the keys of a set parsed once, by kid, each ready to verify
//! or kept with the reason it cannot.

use std::sync::Arc;

use super::error::{cut, KeyLookupError, KeyProblem};
use super::jwk::JwkSet;
use crate::jws::RsaPublicKey;

/// Keys parsed once, by kid.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    entries: Vec<KeyEntry>,
}

/// One kid of a [`KeySet`]: a ready key, or why it cannot be used.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    kid: String,
    key: Result<Arc<RsaPublicKey>, KeyProblem>,
}

impl KeyEntry {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The parsed key, or why the key cannot be used.
    pub fn key(&self) -> Result<&Arc<RsaPublicKey>, &KeyProblem> {
        self.key.as_ref()
    }
}

impl KeySet {
    /// Parses every key of `set` once. Keys without a kid are left out (a
    /// token could not name them); unusable keys are kept with the reason.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let Some(kid) = jwk.kid.as_deref() else {
                continue;
            };
            if let Some(existing) = entries.iter_mut().find(|e| e.kid == kid) {
                existing.key = Err(KeyProblem::DuplicateKid);
                continue;
            }
            entries.push(KeyEntry {
                kid: kid.to_owned(),
                key: jwk.to_rsa_key().map(Arc::new),
            });
        }
        Self { entries }
    }

    /// The entry for `kid`.
    pub fn find(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| e.kid == kid)
    }

    /// Every entry, in the order published.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The kids in the set, in the order published.
    pub fn kids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.kid.clone()).collect()
    }

    /// The key for `kid`, ready to verify.
    pub fn key(&self, kid: &str) -> Result<Arc<RsaPublicKey>, KeyLookupError> {
        match self.find(kid) {
            Some(KeyEntry { key: Ok(key), .. }) => Ok(Arc::clone(key)),
            Some(KeyEntry {
                key: Err(problem), ..
            }) => Err(KeyLookupError::Unusable {
                kid: cut(kid),
                problem: problem.clone(),
            }),
            None => Err(KeyLookupError::UnknownKid {
                kid: cut(kid),
                known: self.kids(),
            }),
        }
    }
}
