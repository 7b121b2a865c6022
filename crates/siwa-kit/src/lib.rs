//! # siwa-kit: the server side of Sign in with Apple
//!
//! - [`p8`]: load the `.p8` key Apple hands out; its public key as PEM or JWK.
//! - [`secret`]: the `client_secret` JWT (ES256), validated before signing, and
//!   a renewing cache for servers.
//! - [`doctor`]: why Apple answers `invalid_client`, check by check.
//! - [`jws`]: compact JWS split and decode; the one place signatures are checked.
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
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod clock;
pub mod doctor;
pub mod ids;
pub mod jws;
pub mod p8;
pub mod secret;

pub use secret::{ClientSecret, ClientSecretBuilder, SecretCache};
