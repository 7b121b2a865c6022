//! The `client_secret`: an ES256 JWT that Apple's `/auth/token` and
//! `/auth/revoke` take as the client's password.
//!
//! Apple wants exactly this, and answers a bare `invalid_client` otherwise:
//! header `{"alg":"ES256","kid":KEY_ID}`; claims `iss` (Team ID), `iat`, `exp`
//! (JSON numbers, seconds), `aud` (`https://appleid.apple.com`), `sub` (the
//! client id); a 64-byte `r || s` signature; at most [`MAX_TTL_SECS`] of life.
//!
//! `iat` is backdated by a small skew ([`DEFAULT_BACKDATE_SECS`]) because
//! Apple rejects an `iat` that its clock sees in the future; `exp - iat` is
//! always exactly the ttl.

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use serde::Serialize;
use thiserror::Error;

use crate::clock::{Clock, UnixTime};
use crate::ids::{ClientId, KeyId, TeamId};
use crate::jws::Es256Key;
use crate::p8::{SignError, SigningKey};

/// Apple's limit on `exp - iat`: 15777000 s, about six months.
pub const MAX_TTL_SECS: u64 = 15_777_000;
/// The builder's default ttl: one hour, for servers that renew through [`SecretCache`].
pub const DEFAULT_TTL_SECS: u64 = 3_600;
/// How far `iat` is set back from now by default.
pub const DEFAULT_BACKDATE_SECS: u64 = 60;
/// The audience Apple expects, exactly.
pub const APPLE_AUDIENCE: &str = "https://appleid.apple.com";

/// Why a client secret could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SecretError {
    /// A ttl of 0 or over Apple's limit.
    #[error("ttl {ttl} s is out of range: Apple accepts 1 to {max} s (about 6 months)")]
    TtlOutOfRange {
        /// The ttl asked for.
        ttl: u64,
        /// Apple's limit.
        max: u64,
    },
    /// The signature could not be made.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl SecretError {
    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::TtlOutOfRange { .. } => {
                "choose a ttl of at most 15777000 seconds (e.g. 180d), and renew the secret before it expires"
            }
            Self::Sign(_) => "the system random generator failed; retry, and check the host's entropy source",
        }
    }
}

/// Builds client secrets for one team, key and client id.
#[derive(Clone, Debug)]
pub struct ClientSecretBuilder {
    team_id: TeamId,
    key_id: KeyId,
    client_id: ClientId,
    ttl: u64,
    backdate: u64,
}

impl ClientSecretBuilder {
    /// A builder with the default ttl ([`DEFAULT_TTL_SECS`]) and backdate ([`DEFAULT_BACKDATE_SECS`]).
    pub fn new(team_id: TeamId, key_id: KeyId, client_id: ClientId) -> Self {
        Self {
            team_id,
            key_id,
            client_id,
            ttl: DEFAULT_TTL_SECS,
            backdate: DEFAULT_BACKDATE_SECS,
        }
    }

    /// Sets `exp - iat`, 1 to [`MAX_TTL_SECS`] seconds.
    pub fn ttl_secs(mut self, ttl: u64) -> Result<Self, SecretError> {
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(SecretError::TtlOutOfRange {
                ttl,
                max: MAX_TTL_SECS,
            });
        }
        self.ttl = ttl;
        Ok(self)
    }

    /// Sets how far `iat` is set back from now (default 60 s). It never takes
    /// more than half of the ttl, so a secret is never born expired.
    pub fn backdate_secs(mut self, secs: u64) -> Self {
        self.backdate = secs;
        self
    }

    /// The client id this builder signs for (the `sub`).
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The ttl, `exp - iat`.
    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Signs a client secret valid from `now`.
    pub fn sign(&self, key: &SigningKey, now: UnixTime) -> Result<ClientSecret, SecretError> {
        let issued_at = now.minus(self.backdate.min(self.ttl / 2));
        let expires_at = issued_at.plus(self.ttl);
        let claims = Claims {
            iss: self.team_id.as_str(),
            iat: issued_at.secs(),
            exp: expires_at.secs(),
            aud: APPLE_AUDIENCE,
            sub: self.client_id.as_str(),
        };
        // Serializing this plain struct of strings and integers cannot fail.
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        let jwt = Es256Key::new(key, self.key_id.as_str()).sign(None, &claims)?;
        Ok(ClientSecret {
            jwt,
            issued_at,
            expires_at,
        })
    }
}

/// A signed client secret. `Debug` redacts it; there is no `Display`.
#[derive(Clone)]
pub struct ClientSecret {
    jwt: String,
    issued_at: UnixTime,
    expires_at: UnixTime,
}

impl ClientSecret {
    /// The JWT to send as `client_secret`.
    ///
    /// **Secret**: whoever holds it can act as your app at Apple until it
    /// expires. Do not log it.
    pub fn secret(&self) -> &str {
        &self.jwt
    }

    /// Its `iat`.
    pub fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// Its `exp`.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSecret")
            .field("jwt", &"[redacted]")
            .field("issued_at", &self.issued_at.secs())
            .field("expires_at", &self.expires_at.secs())
            .finish()
    }
}

/// Hands out the current client secret and signs a new one before it expires.
///
/// Reads are lock-free (an atomic pointer load); one caller at a time renews,
/// the others keep using the still-valid secret or wait for the first one.
pub struct SecretCache {
    builder: ClientSecretBuilder,
    key: Arc<SigningKey>,
    clock: Arc<dyn Clock>,
    renew_margin: u64,
    current: ArcSwapOption<ClientSecret>,
    renewing: Mutex<()>,
}

impl SecretCache {
    /// A cache that renews a tenth of the ttl (at least 60 s, at most half)
    /// before expiry.
    pub fn new(builder: ClientSecretBuilder, key: Arc<SigningKey>, clock: Arc<dyn Clock>) -> Self {
        let renew_margin = (builder.ttl / 10).max(60);
        Self {
            builder,
            key,
            clock,
            renew_margin: 0,
            current: ArcSwapOption::empty(),
            renewing: Mutex::new(()),
        }
        .renew_margin_secs(renew_margin)
    }

    /// Renews when less than `secs` of life is left (capped at half the ttl).
    pub fn renew_margin_secs(mut self, secs: u64) -> Self {
        self.renew_margin = secs.min(self.builder.ttl / 2);
        self
    }

    /// The client id the secrets are for.
    pub fn client_id(&self) -> &ClientId {
        self.builder.client_id()
    }

    /// The current secret, signing a new one if it is due.
    pub fn current(&self) -> Result<Arc<ClientSecret>, SecretError> {
        let now = self.clock.now();
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        // A poisoned lock only means another renewer panicked; the guard protects no data.
        let _guard = self
            .renewing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        let secret = Arc::new(self.builder.sign(&self.key, now)?);
        self.current.store(Some(Arc::clone(&secret)));
        Ok(secret)
    }

    fn fresh(&self, now: UnixTime) -> Option<Arc<ClientSecret>> {
        let guard = self.current.load();
        let secret = guard.as_ref()?;
        (now.plus(self.renew_margin) < secret.expires_at).then(|| Arc::clone(secret))
    }
}

impl fmt::Debug for SecretCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCache")
            .field("client_id", &self.builder.client_id)
            .field("ttl", &self.builder.ttl)
            .field("renew_margin", &self.renew_margin)
            .finish_non_exhaustive()
    }
}

/// Exactly the five claims, in Apple's documented order.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
    exp: u64,
    aud: &'a str,
    sub: &'a str,
}

#[cfg(test)]
mod tests;
