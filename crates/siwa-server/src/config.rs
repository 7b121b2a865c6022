//! `siwa serve` configuration: TOML, then `SIWA_<KEY>` environment variables
//! (which win), validated once at start into [`Settings`].
//!
//! Only `team_id`, `key_id`, `private_key`, `client_id` and `redirect_uri` are
//! required; everything else has a working default.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use siwa_kit::client::Api;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use thiserror::Error;

pub use crate::forwarded::TrustedProxies;
pub use crate::limits::RateLimits;
use crate::store::masked_url;

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
    pub private_key: Option<String>,
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
    /// The key that signs our access tokens (P-256 PEM or a path).
    pub session_key: Option<String>,
    /// The key that encrypts Apple refresh tokens at rest (32 bytes, base64).
    pub encryption_key: Option<String>,
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
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(|u| masked_url(u).to_string()),
            )
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
            ($($field:ident),*) => { $( if let Some(v) = get(stringify!($field)) { self.$field = Some(v); } )* };
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
            token_audience
        );
        if let Some(v) = get("bundle_ids") {
            self.bundle_ids = Some(list(v));
        }
        if let Some(v) = get("allowed_return_origins") {
            self.allowed_return_origins = Some(list(v));
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
            refresh_reuse_grace_secs
        );
        Ok(self)
    }
}

/// Validated settings.
#[derive(Clone)]
pub struct Settings {
    /// Team ID.
    pub team_id: TeamId,
    /// Key ID.
    pub key_id: KeyId,
    /// The .p8 setting (path or PEM), loaded by [`crate::keys`].
    pub private_key: String,
    /// The Services ID.
    pub client_id: ClientId,
    /// Native apps' bundle IDs.
    pub bundle_ids: Vec<ClientId>,
    /// The callback URL registered with Apple.
    pub redirect_uri: String,
    /// Listen address.
    pub listen: String,
    /// Public base URL, no trailing slash.
    pub public_url: String,
    /// Database URL.
    pub database_url: String,
    /// Apple's base URL.
    pub apple_base_url: String,
    /// API family.
    pub api: Api,
    /// Scope asked of Apple.
    pub scope: String,
    /// Origins `return_to` may point to (`scheme://host[:port]`).
    pub allowed_return_origins: Vec<String>,
    /// Session signing key setting (PEM or path), if configured.
    pub session_key: Option<String>,
    /// Encryption key setting (base64), if configured.
    pub encryption_key: Option<String>,
    /// Account association by verified email.
    pub link_by_email: bool,
    /// The native route's nonce policy.
    pub native_nonce: NativeNonce,
    /// Access token lifetime, seconds.
    pub access_token_ttl: u64,
    /// Refresh token and web session lifetime, seconds.
    pub session_ttl: u64,
    /// A session's absolute lifetime, seconds.
    pub session_max_age: u64,
    /// The `aud` of our access tokens.
    pub token_audience: String,
    /// Reuse grace of refresh tokens, seconds (0: strict).
    pub refresh_reuse_grace_secs: u64,
    /// Seconds between deletion attempts (grows with failures).
    pub deletion_retry_secs: u64,
    /// Timeout of calls to Apple, seconds.
    pub apple_timeout_secs: u64,
    /// Rate limits of the sign-in routes.
    pub rate_limits: RateLimits,
    /// Rate limits of `POST /session/refresh`.
    pub refresh_rate_limits: RateLimits,
    /// Reverse proxies trusted for `X-Forwarded-For`.
    pub trusted_proxies: TrustedProxies,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("client_id", &self.client_id)
            .field("bundle_ids", &self.bundle_ids)
            .field("redirect_uri", &self.redirect_uri)
            .field("public_url", &self.public_url)
            .field("database_url", &masked_url(&self.database_url).to_string())
            .field("apple_base_url", &self.apple_base_url)
            .field("private_key", &"[redacted]")
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Validates raw settings; every problem names the setting and the fix.
    pub fn validate(raw: RawSettings) -> Result<Self, ConfigError> {
        let required = |value: Option<String>, key: &str, what: &str| {
            value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!(
                        "missing: set {key} in the config file or SIWA_{} ({what})",
                        key.to_ascii_uppercase()
                    ),
                )
            })
        };
        let team_id = TeamId::new(required(
            raw.team_id,
            "team_id",
            "your 10-character Team ID",
        )?)
        .map_err(|e| ConfigError::new("team_id", format!("{e}; {}", e.hint())))?;
        let key_id = KeyId::new(required(
            raw.key_id,
            "key_id",
            "the 10-character Key ID of the .p8",
        )?)
        .map_err(|e| ConfigError::new("key_id", format!("{e}; {}", e.hint())))?;
        let private_key = required(
            raw.private_key,
            "private_key",
            "a path to AuthKey_<KEYID>.p8, or its PEM text",
        )?;
        let client_id = ClientId::new(required(
            raw.client_id,
            "client_id",
            "the Services ID of the web flow",
        )?)
        .map_err(|e| ConfigError::new("client_id", format!("{e}; {}", e.hint())))?;
        let bundle_ids = raw
            .bundle_ids
            .unwrap_or_default()
            .into_iter()
            .map(|b| ClientId::new(b).map_err(|e| ConfigError::new("bundle_ids", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let redirect_uri = required(
            raw.redirect_uri,
            "redirect_uri",
            "the callback URL registered with Apple",
        )?;
        check_web_url("redirect_uri", &redirect_uri)?;
        let listen = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let public_url = raw
            .public_url
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        check_web_url("public_url", &public_url)?;
        let public_origin = origin_of(&public_url)
            .ok_or_else(|| ConfigError::new("public_url", "not an absolute URL"))?;
        let allowed_return_origins = match raw.allowed_return_origins {
            Some(list) => list
                .iter()
                .map(|o| {
                    origin_of(o).ok_or_else(|| {
                        ConfigError::new(
                            "allowed_return_origins",
                            format!("{o:?} is not an origin like https://example.com"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![public_origin],
        };
        let apple_base_url = raw
            .apple_base_url
            .unwrap_or_else(|| "https://appleid.apple.com".into())
            .trim_end_matches('/')
            .to_owned();
        let api = match raw.api.as_deref() {
            None => Api::default(),
            Some(text) => text.parse::<Api>().map_err(|_| {
                ConfigError::new("api", "use sign-in-with-apple or org-data-sharing")
            })?,
        };
        let access_token_ttl = raw.access_token_ttl.unwrap_or(900);
        let session_ttl = raw.session_ttl.unwrap_or(30 * 86_400);
        let session_max_age = raw.session_max_age.unwrap_or(90 * 86_400);
        if access_token_ttl == 0 || session_ttl == 0 || session_max_age == 0 {
            return Err(ConfigError::new(
                "access_token_ttl/session_ttl/session_max_age",
                "must be at least 1 second",
            ));
        }
        if raw.require_native_nonce.is_some() {
            return Err(ConfigError::new(
                "require_native_nonce",
                "replaced by native_nonce: use native_nonce = \"required\" (the default), \"issued\" or \"optional\"",
            ));
        }
        if raw.trust_forwarded_for.is_some() {
            return Err(ConfigError::new(
                "trust_forwarded_for",
                "replaced by trusted_proxies: the number of reverse proxies in front of the service (e.g. trusted_proxies = 1), or their networks (trusted_proxies = [\"10.0.0.0/8\"])",
            ));
        }
        let native_nonce = match raw.native_nonce.as_deref().map(str::trim) {
            None | Some("required") => NativeNonce::Required,
            Some("issued") => NativeNonce::Issued,
            Some("optional") => NativeNonce::Optional,
            Some(other) => {
                return Err(ConfigError::new(
                    "native_nonce",
                    format!("{other:?} is not one of \"required\", \"issued\", \"optional\""),
                ))
            }
        };
        let trusted_proxies = trusted_proxies(raw.trusted_proxies)?;
        let token_audience = raw
            .token_audience
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| public_url.clone());
        Ok(Self {
            team_id,
            key_id,
            private_key,
            client_id,
            bundle_ids,
            redirect_uri,
            listen,
            public_url,
            database_url: raw
                .database_url
                .unwrap_or_else(|| "sqlite://siwa.db".into()),
            apple_base_url,
            api,
            scope: raw.scope.unwrap_or_else(|| "name email".into()),
            allowed_return_origins,
            session_key: raw.session_key,
            encryption_key: raw.encryption_key,
            link_by_email: raw.link_by_email.unwrap_or(false),
            native_nonce,
            access_token_ttl,
            session_ttl,
            session_max_age,
            token_audience,
            refresh_reuse_grace_secs: raw.refresh_reuse_grace_secs.unwrap_or(0),
            deletion_retry_secs: raw.deletion_retry_secs.unwrap_or(30).max(1),
            apple_timeout_secs: raw.apple_timeout_secs.unwrap_or(10).max(1),
            rate_limits: RateLimits {
                per_ip_per_minute: clamp_u32(raw.rate_limit_per_ip_per_minute.unwrap_or(60)),
                burst: clamp_u32(raw.rate_limit_burst.unwrap_or(20)),
                global_per_second: clamp_u32(raw.rate_limit_global_per_second.unwrap_or(200)),
            },
            refresh_rate_limits: RateLimits {
                per_ip_per_minute: clamp_u32(
                    raw.rate_limit_refresh_per_ip_per_minute.unwrap_or(120),
                ),
                burst: clamp_u32(raw.rate_limit_refresh_burst.unwrap_or(60)),
                global_per_second: clamp_u32(
                    raw.rate_limit_refresh_global_per_second.unwrap_or(2_000),
                ),
            },
            trusted_proxies,
        })
    }

    /// The directory beside a SQLite database (where generated keys go).
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        let path = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        if path.contains(":memory:") {
            return None;
        }
        Some(
            Path::new(path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        )
    }

    /// The public origin (`scheme://host[:port]`).
    pub fn public_origin(&self) -> String {
        origin_of(&self.public_url).unwrap_or_default()
    }

    /// Whether cookies must be `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// `trusted_proxies` parsed: hops, or networks (a bare address is a /32 or /128).
fn trusted_proxies(setting: Option<TrustedProxiesSetting>) -> Result<TrustedProxies, ConfigError> {
    Ok(match setting {
        None | Some(TrustedProxiesSetting::Hops(0)) => TrustedProxies::None,
        Some(TrustedProxiesSetting::Hops(hops)) => TrustedProxies::Hops(clamp_u32(hops)),
        Some(TrustedProxiesSetting::Networks(list)) if list.is_empty() => TrustedProxies::None,
        Some(TrustedProxiesSetting::Networks(list)) => TrustedProxies::Networks(
            list.iter()
                .map(|text| {
                    let text = text.trim();
                    text.parse::<IpNet>()
                        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            ConfigError::new(
                                "trusted_proxies",
                                format!("{text:?} is not a network like 10.0.0.0/8 or an address"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// `scheme://host[:port]` of an absolute http(s) URL, lower-cased.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// https, or http on a loopback host (Apple requires https; the emulator and local dev do not).
fn check_web_url(setting: &str, url: &str) -> Result<(), ConfigError> {
    let origin = origin_of(url).ok_or_else(|| {
        ConfigError::new(setting, format!("{url:?} is not an absolute http(s) URL"))
    })?;
    if origin.starts_with("https://") {
        return Ok(());
    }
    let host = origin.trim_start_matches("http://");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return Ok(());
    }
    Err(ConfigError::new(
        setting,
        format!("{url:?} is not https; Apple only redirects to https URLs (plain http is allowed for localhost)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RawSettings {
        RawSettings::from_toml(
            r#"
team_id = "DEF123GHIJ"
key_id = "ABC123DEFG"
private_key = "AuthKey_ABC123DEFG.p8"
client_id = "com.example.web"
redirect_uri = "https://example.com/auth/apple/callback"
"#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_fill_the_rest() {
        let s = Settings::validate(minimal()).unwrap();
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://siwa.db");
        assert_eq!(s.allowed_return_origins, ["http://127.0.0.1:8080"]);
        assert_eq!(s.scope, "name email");
        assert!(!s.link_by_email);
    }

    #[test]
    fn environment_wins() {
        let env: HashMap<String, String> = [
            ("SIWA_CLIENT_ID", "com.example.other"),
            ("SIWA_BUNDLE_IDS", "com.example.ios, com.example.mac"),
            ("SIWA_LINK_BY_EMAIL", "true"),
            ("SIWA_RATE_LIMIT_PER_IP_PER_MINUTE", "0"),
            ("SIWA_TRUSTED_PROXIES", "2"),
            ("SIWA_NATIVE_NONCE", "issued"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::validate(minimal().with_env(&env).unwrap()).unwrap();
        assert_eq!(s.client_id.as_str(), "com.example.other");
        assert_eq!(s.bundle_ids.len(), 2);
        assert!(s.link_by_email);
        assert_eq!(s.rate_limits.per_ip_per_minute, 0);
        assert_eq!(s.trusted_proxies, TrustedProxies::Hops(2));
        assert_eq!(s.native_nonce, NativeNonce::Issued);
        let env: HashMap<String, String> = [(
            "SIWA_TRUSTED_PROXIES".to_owned(),
            "10.0.0.0/8, 192.0.2.1".to_owned(),
        )]
        .into();
        let s = Settings::validate(minimal().with_env(&env).unwrap()).unwrap();
        assert!(
            matches!(&s.trusted_proxies, TrustedProxies::Networks(n) if n.len() == 2),
            "{:?}",
            s.trusted_proxies
        );
    }

    #[test]
    fn safe_defaults_of_the_security_settings() {
        let s = Settings::validate(minimal()).unwrap();
        assert_eq!(s.trusted_proxies, TrustedProxies::None);
        assert_eq!(s.native_nonce, NativeNonce::Required);
        assert_eq!(s.token_audience, s.public_url);
        assert_eq!(s.session_max_age, 90 * 86_400);
        assert_eq!(s.refresh_reuse_grace_secs, 0);
        let raw = RawSettings::from_toml(
            r#"
team_id = "DEF123GHIJ"
key_id = "ABC123DEFG"
private_key = "AuthKey_ABC123DEFG.p8"
client_id = "com.example.web"
redirect_uri = "https://example.com/auth/apple/callback"
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32"]
native_nonce = "optional"
"#,
        )
        .unwrap();
        let s = Settings::validate(raw).unwrap();
        assert_eq!(s.native_nonce, NativeNonce::Optional);
        assert!(matches!(s.trusted_proxies, TrustedProxies::Networks(_)));
    }

    #[test]
    fn replaced_and_wrong_security_settings_are_refused_with_a_hint() {
        let mut raw = minimal();
        raw.trust_forwarded_for = Some(true);
        let err = Settings::validate(raw).unwrap_err();
        assert!(err.problem.contains("trusted_proxies"), "{err}");
        let mut raw = minimal();
        raw.require_native_nonce = Some(false);
        let err = Settings::validate(raw).unwrap_err();
        assert!(err.problem.contains("native_nonce"), "{err}");
        let mut raw = minimal();
        raw.native_nonce = Some("sometimes".into());
        assert_eq!(Settings::validate(raw).unwrap_err().setting, "native_nonce");
        let mut raw = minimal();
        raw.trusted_proxies = Some(TrustedProxiesSetting::Networks(vec!["10.0.0.0/33".into()]));
        assert_eq!(
            Settings::validate(raw).unwrap_err().setting,
            "trusted_proxies"
        );
    }

    #[test]
    fn refuses_missing_and_wrong_settings() {
        let mut raw = minimal();
        raw.team_id = None;
        assert_eq!(Settings::validate(raw).unwrap_err().setting, "team_id");
        let mut raw = minimal();
        raw.client_id = Some(String::new());
        assert_eq!(Settings::validate(raw).unwrap_err().setting, "client_id");
        let mut raw = minimal();
        raw.redirect_uri = Some("http://example.com/cb".into());
        let err = Settings::validate(raw).unwrap_err();
        assert!(err.problem.contains("https"), "{err}");
        let mut raw = minimal();
        raw.redirect_uri = Some("http://127.0.0.1:8080/cb".into());
        assert!(Settings::validate(raw).is_ok());
        assert!(RawSettings::from_toml("nonsense = 1").is_err());
    }

    #[test]
    fn debug_hides_keys_and_passwords() {
        let mut raw = minimal();
        raw.private_key = Some("-----BEGIN PRIVATE KEY-----\nMIGH...".into());
        raw.database_url = Some("postgres://u:pw@h/db".into());
        raw.encryption_key = Some("c2VjcmV0".into());
        let debug = format!("{raw:?} {:?}", Settings::validate(raw.clone()).unwrap());
        assert!(
            !debug.contains("MIGH") && !debug.contains(":pw@") && !debug.contains("c2VjcmV0"),
            "{debug}"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://Example.com/x?y").unwrap(),
            "https://example.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(origin_of("javascript:alert(1)").is_none());
        assert!(origin_of("https://user@evil.com").is_none());
    }
}
