//! # siwa-kit: the server side of Sign in with Apple
//!
//! - [`p8`]: load the `.p8` key Apple hands out (from a setting: a path or the
//!   PEM text); its public key as PEM or JWK.
//! - [`secret`]: the `client_secret` JWT (ES256), validated before signing, and
//!   a renewing cache for servers.
//! - [`doctor`]: why Apple answers `invalid_client`, check by check.
//! - [`jws`]: compact JWS; [`jws::verify`], the one entry for a signed token and
//!   the one place signatures are checked; [`jws::Es256Key`] for a service's
//!   own tokens.
//! - [`jwks`]: Apple's key set and a cache of it (TTL, single-flight refetch on
//!   an unknown kid, rate limit, stale-if-error).
//! - [`id_token`]: [`Verifier`] of identity tokens -> typed [`Claims`] ([`claims`]).
//! - [`notification`]: Apple's server-to-server notifications, verified and typed.
//! - [`http`]: the small trait requests are sent through (reqwest behind the
//!   default feature `reqwest`).
//! - [`client`]: [`AppleClient`] for Apple's REST API: authorize URL, code
//!   exchange, refresh, revoke, with typed answers and typed Apple errors.
//! - [`callback`]: the fields of Apple's callback (`form_post`), incl. the
//!   first-login-only `user` JSON.
//! - `axum` (feature `axum`): an extractor of verified identity tokens.
//!
//! ## Security notes
//! Keys, client secrets and tokens are newtypes whose `Debug` prints
//! `[redacted]`; key bytes are zeroized on drop. The algorithm is fixed by the
//! code, never taken from a token's header.
//!
//! ## Example
//! ```
//! use siwa_kit::clock::UnixTime;
//! use siwa_kit::ids::{ClientId, KeyId, TeamId};
//! use siwa_kit::p8::SigningKey;
//! use siwa_kit::secret::ClientSecretBuilder;
//! # let pem = include_str!("../tests/fixtures/AuthKey_ABC123DEFG.p8");
//! let key = SigningKey::from_pem(pem)?;
//! let secret = ClientSecretBuilder::new(
//!     TeamId::new("DEF123GHIJ")?,
//!     KeyId::new("ABC123DEFG")?,
//!     ClientId::new("com.example.web")?,
//! )
//! .ttl_secs(180 * 86_400)?
//! .sign(&key, UnixTime::from_secs(1_700_000_000))?;
//! assert_eq!(secret.expires_at().secs() - secret.issued_at().secs(), 180 * 86_400);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "axum")]
pub mod axum;
pub mod callback;
pub mod claims;
pub mod client;
pub mod clock;
pub mod doctor;
pub mod http;
pub mod id_token;
pub mod ids;
pub mod jwks;
pub mod jws;
pub mod notification;
pub mod p8;
pub mod secret;
mod secret_string;

/// What the exported macros name; not an API.
#[doc(hidden)]
pub mod __private {
    pub use zeroize::Zeroizing;
}

/// The README's Rust snippets (the project's README, which is also this
/// crate's), run by `cargo test --doc` so that they keep compiling and working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

pub use claims::Claims;
pub use client::AppleClient;
pub use id_token::Verifier;
pub use secret::{ClientSecret, ClientSecretBuilder, SecretCache};
