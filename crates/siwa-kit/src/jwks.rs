//! Apple's key set (`GET https://appleid.apple.com/auth/keys`) and a cache of
//! it.
//!
//! [`KeySet`] holds keys parsed once into ready-to-verify [`RsaPublicKey`](crate::jws::RsaPublicKey)s;
//! keys that cannot sign Apple's tokens (not RSA, under 2048 bits, `use` not
//! `sig`, `alg` not `RS256`) are kept with the reason, so a token naming one
//! gets that reason rather than "unknown kid".
//!
//! [`KeyCache`] serves keys to verifiers:
//! - the set lives for the response's `Cache-Control: max-age` (bounded by
//!   [`KeyCache::ttl_bounds_secs`], [`DEFAULT_TTL_SECS`] when absent);
//! - an unknown kid triggers one refetch shared by every caller waiting on it
//!   (single flight), and at most one refetch per
//!   [`KeyCache::refetch_interval_secs`], so forged kids cannot make us hammer
//!   Apple;
//! - when Apple cannot be reached, the keys in hand keep verifying for
//!   [`KeyCache::stale_grace_secs`] past their expiry (stale-if-error);
//! - a fetch has a timeout and a response-size limit.
//!
//! A cache built from a file or a value ([`KeyCache::from_jwks`]) never
//! touches the network.
//!
//! Time-based decisions read the injectable [`Clock`](crate::clock::Clock); waiting for a fetch
//! uses tokio's timer, so a remote cache must be used inside a tokio runtime
//! with time enabled.

//!
//! ## Files
//! - `jwk.rs`: the document, [`Jwk`] and [`JwkSet`], read strictly.
//! - `key_set.rs`: [`KeySet`] and its [`KeyEntry`]s, parsed once by kid.
//! - `cache.rs`: [`KeyCache`] and its defaults (`DEFAULT_*`).
//! - `error.rs`: [`JwksError`], [`KeyProblem`], [`KeyLookupError`],
//!   [`FetchError`], each with a hint.

mod cache;
mod error;
mod jwk;
mod key_set;

pub use cache::{
    KeyCache, APPLE_JWKS_URL, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_TTL_SECS, DEFAULT_MIN_TTL_SECS, DEFAULT_REFETCH_INTERVAL_SECS,
    DEFAULT_STALE_GRACE_SECS, DEFAULT_TTL_SECS,
};
pub use error::{FetchError, JwksError, KeyLookupError, KeyProblem};
pub use jwk::{Jwk, JwkSet};
pub use key_set::{KeyEntry, KeySet};

#[cfg(test)]
mod tests;
