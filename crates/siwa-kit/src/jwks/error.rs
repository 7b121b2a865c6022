//! Why a key set or a key could not serve: the document ([`JwksError`]), one
//! key in it ([`KeyProblem`]), the lookup of a token's kid
//! ([`KeyLookupError`]) and the fetch ([`FetchError`]); each with a hint.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::clock::UnixTime;
use crate::http::HttpError;
use crate::jws::RsaKeyError;

/// Why a key set document could not be read.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not strict JSON.
    #[error("the key set is not strict JSON: {reason}")]
    Json {
        /// What is wrong.
        reason: String,
    },
    /// JSON, but not `{"keys":[{"kty":..,..}]}`.
    #[error("the key set is not shaped as {{\"keys\":[...]}}: {reason}")]
    Shape {
        /// What is wrong.
        reason: String,
    },
}

impl JwksError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        "pass the JSON served by https://appleid.apple.com/auth/keys (or the emulator's /auth/keys), unchanged"
    }
}

/// Why a key in a set cannot verify Apple's tokens.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// `kty` is not `RSA`.
    #[error("its kty is {kty:?}; Apple's tokens are signed with RSA keys")]
    NotRsa {
        /// The key type given.
        kty: String,
    },
    /// `use` is there and is not `sig`.
    #[error("its use is {found:?}, not \"sig\"")]
    Use {
        /// The use given.
        found: String,
    },
    /// `alg` is there and is not `RS256`.
    #[error("its alg is {found:?}, not \"RS256\"")]
    Alg {
        /// The algorithm given.
        found: String,
    },
    /// `key_ops` is there and does not allow `verify`.
    #[error("its key_ops {found:?} do not include \"verify\"")]
    KeyOps {
        /// The operations given.
        found: Vec<String>,
    },
    /// `n` or `e` is missing.
    #[error("it has no {member:?}")]
    Missing {
        /// `n` or `e`.
        member: &'static str,
    },
    /// `n` or `e` is not canonical unpadded base64url.
    #[error("its {member:?} is not canonical unpadded base64url")]
    Encoding {
        /// `n` or `e`.
        member: &'static str,
    },
    /// The RSA key itself is refused (too small, bad exponent, malformed).
    #[error(transparent)]
    Rsa(#[from] RsaKeyError),
    /// Two keys in the set share this kid, so a token cannot say which.
    #[error("its kid appears more than once in the set")]
    DuplicateKid,
}

impl KeyProblem {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NotRsa { .. } | Self::Use { .. } | Self::Alg { .. } | Self::KeyOps { .. } => {
                "Apple signs identity tokens with RSA keys marked use sig, alg RS256: use Apple's /auth/keys, unchanged"
            }
            Self::Missing { .. } | Self::Encoding { .. } => {
                "take the key set unchanged from /auth/keys: n and e are unpadded base64url"
            }
            Self::Rsa(e) => e.hint(),
            Self::DuplicateKid => "a key set must name each key once; fetch a fresh copy of /auth/keys",
        }
    }
}

/// Why no key was found to verify a token.
#[derive(Clone, Debug, Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// No key with this kid, even after a refetch (or a refetch was not
    /// allowed yet).
    #[error("no key with kid {kid:?} in the key set (it has {known:?})")]
    UnknownKid {
        /// The token's kid (cut at 64 characters).
        kid: String,
        /// The kids the set has.
        known: Vec<String>,
    },
    /// The key with this kid cannot verify Apple's tokens.
    #[error("the key {kid:?} cannot verify tokens: {problem}")]
    Unusable {
        /// The kid.
        kid: String,
        /// Why.
        #[source]
        problem: KeyProblem,
    },
    /// No key set was ever fetched: the fetch failed.
    #[error("the key set could not be fetched")]
    Unavailable {
        /// The last fetch's failure.
        #[source]
        source: Arc<FetchError>,
    },
    /// The keys in hand are past their freshness and the grace period, and
    /// could not be refreshed.
    #[error("the cached key set expired at {expired_at} and could not be refreshed")]
    Expired {
        /// End of the grace period.
        expired_at: UnixTime,
        /// The last fetch's failure, if one was tried.
        #[source]
        source: Option<Arc<FetchError>>,
    },
}

impl KeyLookupError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::UnknownKid { .. } => {
                "the token was signed by a key not in the set: forged, or from another issuer; with a key file, fetch a current one from /auth/keys"
            }
            Self::Unusable { .. } => "Apple signs with RSA (2048 bits or more) RS256 keys; this key set holds another kind under that kid",
            Self::Unavailable { .. } | Self::Expired { .. } => {
                "the service cannot reach Apple's /auth/keys: check outbound HTTPS, DNS and proxies; tokens cannot be verified until it can"
            }
        }
    }
}

/// Why fetching the key set failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No response within the fetch timeout.
    #[error("fetching {url} timed out after {} ms", after.as_millis())]
    Timeout {
        /// The key set URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The request failed.
    #[error("fetching {url} failed: {source}")]
    Http {
        /// The key set URL.
        url: String,
        /// The client's error.
        #[source]
        source: HttpError,
    },
    /// An answer other than 200.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The key set URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// An answer larger than the limit.
    #[error("{url} answered with {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// The key set URL.
        url: String,
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The last fetch was abandoned before it finished (its caller went away).
    #[error("the last fetch of {url} was abandoned before it finished")]
    Interrupted {
        /// The key set URL.
        url: String,
    },
    /// An answer that is not a key set.
    #[error("{url} answered with no valid key set: {source}")]
    Jwks {
        /// The key set URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: JwksError,
    },
}

impl FetchError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Timeout { .. } | Self::Http { .. } | Self::Interrupted { .. } => {
                "check outbound HTTPS to the key set URL (DNS, proxies, firewalls); the keys in hand serve meanwhile"
            }
            Self::Status { .. } | Self::TooLarge { .. } | Self::Jwks { .. } => {
                "check the key set URL: Apple's is https://appleid.apple.com/auth/keys (the emulator's: <base>/auth/keys)"
            }
        }
    }
}

/// Longest kid or member value quoted back in an error.
pub(super) const MAX_QUOTED: usize = 64;

pub(super) fn cut(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}
