//! `siwa serve` configuration: TOML, then `SIWA_<KEY>` environment variables
//! (which win), validated once at start into [`Settings`].
//!
//! Only `team_id`, `key_id`, `private_key`, `client_id` and `redirect_uri` are
//! required; everything else has a working default.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use siwa_kit::client::Api;
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use thiserror::Error;

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
    /// Native sign-ins must carry the raw nonce.
    pub require_native_nonce: Option<bool>,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl: Option<u64>,
    /// Lifetime of refresh tokens and the web session, seconds.
    pub session_ttl: Option<u64>,
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
    /// Take the client IP from X-Forwarded-For (only behind a proxy that sets it).
    pub trust_forwarded_for: Option<bool>,
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
            encryption_key
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
            rate_limit_global_per_second
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
    /// Native sign-ins must carry the raw nonce.
    pub require_native_nonce: bool,
    /// Access token lifetime, seconds.
    pub access_token_ttl: u64,
    /// Refresh token and web session lifetime, seconds.
    pub session_ttl: u64,
    /// Seconds between deletion attempts (grows with failures).
    pub deletion_retry_secs: u64,
    /// Timeout of calls to Apple, seconds.
    pub apple_timeout_secs: u64,
    /// Rate limits of the sign-in routes.
    pub rate_limits: crate::limits::RateLimits,
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
        if access_token_ttl == 0 || session_ttl == 0 {
            return Err(ConfigError::new(
                "access_token_ttl/session_ttl",
                "must be at least 1 second",
            ));
        }
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
            require_native_nonce: raw.require_native_nonce.unwrap_or(false),
            access_token_ttl,
            session_ttl,
            deletion_retry_secs: raw.deletion_retry_secs.unwrap_or(30).max(1),
            apple_timeout_secs: raw.apple_timeout_secs.unwrap_or(10).max(1),
            rate_limits: crate::limits::RateLimits {
                per_ip_per_minute: clamp_u32(raw.rate_limit_per_ip_per_minute.unwrap_or(60)),
                burst: clamp_u32(raw.rate_limit_burst.unwrap_or(20)),
                global_per_second: clamp_u32(raw.rate_limit_global_per_second.unwrap_or(200)),
                trust_forwarded_for: raw.trust_forwarded_for.unwrap_or(false),
            },
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
            ("SIWA_TRUST_FORWARDED_FOR", "yes"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s = Settings::validate(minimal().with_env(&env).unwrap()).unwrap();
        assert_eq!(s.client_id.as_str(), "com.example.other");
        assert_eq!(s.bundle_ids.len(), 2);
        assert!(s.link_by_email);
        assert_eq!(s.rate_limits.per_ip_per_minute, 0);
        assert!(s.rate_limits.trust_forwarded_for);
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
