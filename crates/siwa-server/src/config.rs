//! `siwa serve` configuration: TOML, then `SIWA_<KEY>` environment variables
//! (which win), parsed once at start into [`Settings`]: typed values, keys
//! loaded, URLs checked. After [`Settings::load`] nothing fails on
//! configuration.
//!
//! - `config.rs`: the settings as written ([`RawSettings`]), from TOML and the environment;
//! - `config/settings.rs`: [`Settings`], and how each raw value is parsed;
//! - `config/raw_oidc.rs`: the `[oidc]` section as written;
//! - `config/web.rs`: the web front ends (Services IDs, popup pages, CORS origins);
//! - `config/urls.rs`: origins and the https rule of Apple's URLs.
//!
//! Only `team_id`, `key_id`, `private_key`, `client_id` and `redirect_uri` are
//! required; everything else has a working default.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

pub use crate::forwarded::TrustedProxies;
pub use crate::limits::RateLimits;
pub use crate::secrets::SecretSetting;
use crate::store::masked_url;

mod raw_oidc;
mod settings;
mod urls;
mod web;
mod webhooks;

pub use raw_oidc::{RawOidc, RawOidcClient};
pub use settings::Settings;
pub(crate) use urls::{check_web_url, origin_of};
pub use web::{RawWebClient, WebClient};
pub use webhooks::{RawWebhook, WebhookEndpoint};

/// The database when `database_url` is not set: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://siwa.db";

/// Why the service refuses to start.
#[derive(Debug, Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The setting at fault (`team_id`, or the TOML file).
    pub setting: String,
    /// What is wrong, and how to fix it.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}

/// The settings as written (TOML keys; every one also `SIWA_<KEY>`).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Team ID.
    pub team_id: Option<String>,
    /// Key ID of the .p8.
    pub key_id: Option<String>,
    /// The .p8: a path, or the PEM text.
    pub private_key: Option<SecretSetting>,
    /// The Services ID (web flow).
    pub client_id: Option<String>,
    /// Bundle IDs of native apps.
    pub bundle_ids: Option<Vec<String>>,
    /// The callback URL registered with Apple.
    pub redirect_uri: Option<String>,
    /// Address to listen on.
    pub listen: Option<String>,
    /// The service's public base URL.
    pub public_url: Option<String>,
    /// `sqlite://FILE` or `postgres://...`.
    pub database_url: Option<String>,
    /// Apple (or the emulator).
    pub apple_base_url: Option<String>,
    /// `sign-in-with-apple` or `org-data-sharing`.
    pub api: Option<String>,
    /// Scope asked of Apple.
    pub scope: Option<String>,
    /// Origins `return_to` may point to.
    pub allowed_return_origins: Option<Vec<String>>,
    /// Pages that run Apple's JS in popup mode for the primary Services ID.
    pub popup_redirect_uris: Option<Vec<String>>,
    /// Origins whose pages may call `/auth/apple/web/*` for the primary Services ID.
    pub allowed_web_origins: Option<Vec<String>>,
    /// More Services IDs (`[[web]]`, TOML only).
    pub web: Option<Vec<RawWebClient>>,
    /// Where pages load Apple's JS (default: Apple's CDN, or the emulator's copy).
    pub apple_js_url: Option<String>,
    /// The key that signs our access tokens (P-256 PEM or a path).
    pub session_key: Option<SecretSetting>,
    /// The key that encrypts Apple refresh tokens at rest (32 bytes, base64).
    pub encryption_key: Option<SecretSetting>,
    /// Join a new Apple identity to an existing user with the same verified, non-relay email.
    pub link_by_email: Option<bool>,
    /// Replaced by `native_nonce` (refused with a hint).
    pub require_native_nonce: Option<bool>,
    /// `required` (default), `issued` or `optional`: the native route's nonce.
    pub native_nonce: Option<String>,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl: Option<u64>,
    /// Lifetime of refresh tokens and the web session, seconds (renewed by rotation).
    pub session_ttl: Option<u64>,
    /// A session's absolute lifetime, seconds, from its sign-in (rotation never extends it).
    pub session_max_age: Option<u64>,
    /// The `aud` of our access tokens (default: `public_url`).
    pub token_audience: Option<String>,
    /// Seconds after its use during which a spent refresh token gets the same
    /// successor instead of revoking its session (0: strict).
    pub refresh_reuse_grace_secs: Option<u64>,
    /// Seconds between attempts of a queued account deletion.
    pub deletion_retry_secs: Option<u64>,
    /// Timeout of calls to Apple, seconds.
    pub apple_timeout_secs: Option<u64>,
    /// Sign-in requests per minute per client IP (0: off).
    pub rate_limit_per_ip_per_minute: Option<u64>,
    /// Sign-in requests an IP may make at once.
    pub rate_limit_burst: Option<u64>,
    /// Sign-in requests per second from everyone together (0: off).
    pub rate_limit_global_per_second: Option<u64>,
    /// Refresh requests per minute per client IP (0: off).
    pub rate_limit_refresh_per_ip_per_minute: Option<u64>,
    /// Refresh requests an IP may make at once.
    pub rate_limit_refresh_burst: Option<u64>,
    /// Refresh requests per second from everyone together (0: off).
    pub rate_limit_refresh_global_per_second: Option<u64>,
    /// Reverse proxies to trust for `X-Forwarded-For`: a number of hops, or a list of CIDRs.
    pub trusted_proxies: Option<TrustedProxiesSetting>,
    /// Replaced by `trusted_proxies` (refused with a hint).
    pub trust_forwarded_for: Option<bool>,
    /// The OpenID Provider (`[oidc]`, TOML only); absent: not served.
    pub oidc: Option<RawOidc>,
    /// Where account events go (`[[webhook]]`, TOML only).
    pub webhook: Option<Vec<RawWebhook>>,
    /// Seconds before the first retry of a webhook delivery (doubling, up to an hour).
    pub webhook_retry_secs: Option<u64>,
    /// Seconds between two daily checks of a user's Apple token (default 86400; 0: off).
    pub reconcile_interval: Option<u64>,
    /// At most this many daily checks a second, across the whole store.
    pub reconcile_per_second: Option<u64>,
}

/// `trusted_proxies` as written: a number of hops or a list of networks.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(untagged)]
pub enum TrustedProxiesSetting {
    /// Proxy hops in front of the service.
    Hops(u64),
    /// Networks (CIDR, or single addresses) of the proxies.
    Networks(Vec<String>),
}

/// How the native route treats the nonce.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum NativeNonce {
    /// The raw nonce must be sent, and its SHA-256 be the token's `nonce`.
    #[default]
    Required,
    /// As required, and the nonce must be one this service issued
    /// (`POST /auth/apple/nonce`), each used once.
    Issued,
    /// Checked when sent (old apps that send none still sign in).
    Optional,
}

impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSettings")
            .field("team_id", &self.team_id)
            .field("client_id", &self.client_id)
            .field("private_key", &self.private_key)
            .field("session_key", &self.session_key)
            .field("encryption_key", &self.encryption_key)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(|u| masked_url(u).to_string()),
            )
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

impl RawSettings {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path.display().to_string(), format!("cannot read it: {e}"))
        })?;
        Self::from_toml(&text).map_err(|e| ConfigError::new(path.display().to_string(), e.problem))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::new("config", format!("invalid TOML: {e}")))
    }

    /// Applies `SIWA_<KEY>` variables from `env` over these settings.
    pub fn with_env(mut self, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| {
            env.get(&format!("SIWA_{}", key.to_ascii_uppercase()))
                .cloned()
        };
        let list = |v: String| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let flag = |key: &str, v: String| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(
                format!("SIWA_{}", key.to_ascii_uppercase()),
                "use true or false",
            )),
        };
        let number = |key: &str, v: String| {
            v.trim().parse::<u64>().map_err(|_| {
                ConfigError::new(
                    format!("SIWA_{}", key.to_ascii_uppercase()),
                    "use a whole number of seconds",
                )
            })
        };
        macro_rules! text {
            ($($field:ident),*) => { $( if let Some(v) = get(stringify!($field)) { self.$field = Some(v.into()); } )* };
        }
        text!(
            team_id,
            key_id,
            private_key,
            client_id,
            redirect_uri,
            listen,
            public_url,
            database_url,
            apple_base_url,
            api,
            scope,
            session_key,
            encryption_key,
            native_nonce,
            token_audience,
            apple_js_url
        );
        if let Some(v) = get("bundle_ids") {
            self.bundle_ids = Some(list(v));
        }
        if let Some(v) = get("allowed_return_origins") {
            self.allowed_return_origins = Some(list(v));
        }
        if let Some(v) = get("popup_redirect_uris") {
            self.popup_redirect_uris = Some(list(v));
        }
        if let Some(v) = get("allowed_web_origins") {
            self.allowed_web_origins = Some(list(v));
        }
        if let Some(v) = get("link_by_email") {
            self.link_by_email = Some(flag("link_by_email", v)?);
        }
        if let Some(v) = get("trust_forwarded_for") {
            self.trust_forwarded_for = Some(flag("trust_forwarded_for", v)?);
        }
        if let Some(v) = get("require_native_nonce") {
            self.require_native_nonce = Some(flag("require_native_nonce", v)?);
        }
        if let Some(v) = get("trusted_proxies") {
            self.trusted_proxies = Some(match v.trim().parse::<u64>() {
                Ok(hops) => TrustedProxiesSetting::Hops(hops),
                Err(_) => TrustedProxiesSetting::Networks(list(v)),
            });
        }
        macro_rules! numbers {
            ($($field:ident),*) => { $( if let Some(v) = get(stringify!($field)) { self.$field = Some(number(stringify!($field), v)?); } )* };
        }
        numbers!(
            access_token_ttl,
            session_ttl,
            deletion_retry_secs,
            apple_timeout_secs,
            rate_limit_per_ip_per_minute,
            rate_limit_burst,
            rate_limit_global_per_second,
            rate_limit_refresh_per_ip_per_minute,
            rate_limit_refresh_burst,
            rate_limit_refresh_global_per_second,
            session_max_age,
            refresh_reuse_grace_secs,
            webhook_retry_secs,
            reconcile_interval,
            reconcile_per_second
        );
        Ok(self)
    }
}

#[cfg(test)]
mod tests;
