//! [`Settings`]: every raw value parsed once (ids, URLs, Apple's endpoints,
//! scopes, limits) and every key loaded (the team's `.p8`, the service's own
//! keys), so that nothing fails on configuration after [`Settings::load`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use siwa_kit::client::{Api, Endpoints, RedirectUri, Scope};
use siwa_kit::ids::{ClientId, KeyId, TeamId};
use siwa_kit::p8::{LoadedKey, SigningKey};

use super::urls::{check_web_url, origin_of};
use super::web::{check_distinct, popup_settings, WebClient};
use super::webhooks::WebhookEndpoint;
use super::{ConfigError, NativeNonce, RawSettings, TrustedProxiesSetting};
use crate::forwarded::TrustedProxies;
use crate::keys::ServiceKeys;
use crate::limits::RateLimits;
use crate::oidc::settings::OidcSettings;
use crate::secrets::SecretSetting;
use crate::store::DatabaseUrl;

/// The settings, parsed; the keys loaded.
#[derive(Clone)]
pub struct Settings {
    /// Team ID.
    pub team_id: TeamId,
    /// Key ID of the team's key.
    pub key_id: KeyId,
    /// The team's `.p8` key, loaded: it signs the client secrets.
    pub apple_key: Arc<SigningKey>,
    /// The Services ID.
    pub client_id: ClientId,
    /// Native apps' bundle IDs.
    pub bundle_ids: Vec<ClientId>,
    /// The callback URL registered with Apple.
    pub redirect_uri: RedirectUri,
    /// Listen address.
    pub listen: String,
    /// Public base URL, no trailing slash.
    pub public_url: String,
    /// The database (its password masked when shown).
    pub database_url: DatabaseUrl,
    /// Apple's endpoints (or the emulator's), of the configured API family.
    pub apple: Endpoints,
    /// Scopes asked of Apple.
    pub scopes: Vec<Scope>,
    /// Origins `return_to` may point to (`scheme://host[:port]`).
    pub allowed_return_origins: Vec<String>,
    /// The web front ends, the primary one (`client_id`, `redirect_uri`, …) first.
    pub web: Vec<WebClient>,
    /// Where pages load Apple's JS (`appleid.auth.js`).
    pub apple_js_url: String,
    /// The service's own keys (signing our tokens, sealing Apple's).
    pub service_keys: Arc<ServiceKeys>,
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
    /// Where account events go.
    pub webhooks: Vec<WebhookEndpoint>,
    /// Seconds before a webhook's first retry (doubling, up to an hour).
    pub webhook_retry_secs: u64,
    /// Seconds between two daily checks of an Apple token (0: no checks).
    pub reconcile_interval: u64,
    /// Daily checks per second at most.
    pub reconcile_per_second: u32,
    /// Timeout of calls to Apple, seconds.
    pub apple_timeout_secs: u64,
    /// Rate limits of the sign-in routes.
    pub rate_limits: RateLimits,
    /// Rate limits of `POST /session/refresh`.
    pub refresh_rate_limits: RateLimits,
    /// Reverse proxies trusted for `X-Forwarded-For`.
    pub trusted_proxies: TrustedProxies,
    /// The OpenID Provider, when `[oidc]` is configured.
    pub oidc: Option<Arc<OidcSettings>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("apple_key", &self.apple_key)
            .field("client_id", &self.client_id)
            .field("bundle_ids", &self.bundle_ids)
            .field("redirect_uri", &self.redirect_uri)
            .field("public_url", &self.public_url)
            .field("database_url", &self.database_url)
            .field("apple", &self.apple)
            .field("service_keys", &self.service_keys)
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Parses raw settings and loads the keys they name; every problem names
    /// the setting and the fix. On SQLite without configured service keys,
    /// their key file is read, or made (mode 0600) beside the database.
    pub fn load(mut raw: RawSettings) -> Result<Self, ConfigError> {
        refuse_replaced(&raw)?;
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
        let apple_key = Arc::new(load_apple_key(
            required_secret(
                raw.private_key,
                "private_key",
                "a path to AuthKey_<KEYID>.p8, or its PEM text",
            )?
            .secret(),
        )?);
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
        let redirect_uri = RedirectUri::new(redirect_uri)
            .map_err(|e| ConfigError::new("redirect_uri", e.to_string()))?;
        let listen = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let public_url = raw
            .public_url
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        check_web_url("public_url", &public_url)?;
        let allowed_return_origins = return_origins(raw.allowed_return_origins, &public_url)?;
        let (popup_redirect_uris, allowed_web_origins) =
            popup_settings("", raw.popup_redirect_uris, raw.allowed_web_origins)?;
        let mut web = vec![WebClient {
            client_id: client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            allowed_return_origins: allowed_return_origins.clone(),
            popup_redirect_uris,
            allowed_web_origins,
        }];
        for (n, more) in raw.web.unwrap_or_default().into_iter().enumerate() {
            web.push(WebClient::parse(more, &format!("web[{n}]."), &public_url)?);
        }
        check_distinct(&web, &bundle_ids)?;
        let webhooks = raw
            .webhook
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(n, raw)| WebhookEndpoint::parse(raw, n))
            .collect::<Result<Vec<_>, _>>()?;
        let apple_base_url = raw.apple_base_url.clone();
        let apple = apple_endpoints(raw.apple_base_url, raw.api.as_deref())?;
        let apple_js_url = apple_js_url(raw.apple_js_url, apple_base_url.as_deref())?;
        let scopes = scopes(raw.scope.as_deref())?;
        let database_url = DatabaseUrl::new(
            raw.database_url
                .unwrap_or_else(|| super::DEFAULT_DATABASE_URL.into()),
        );
        let service_keys = Arc::new(ServiceKeys::resolve(
            raw.session_key.as_ref().map(SecretSetting::secret),
            raw.encryption_key.as_ref().map(SecretSetting::secret),
            &database_url,
        )?);
        let access_token_ttl = raw.access_token_ttl.unwrap_or(900);
        let session_ttl = raw.session_ttl.unwrap_or(30 * 86_400);
        let session_max_age = raw.session_max_age.unwrap_or(90 * 86_400);
        if access_token_ttl == 0 || session_ttl == 0 || session_max_age == 0 {
            return Err(ConfigError::new(
                "access_token_ttl/session_ttl/session_max_age",
                "must be at least 1 second",
            ));
        }
        let token_audience = raw
            .token_audience
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| public_url.clone());
        let oidc = raw
            .oidc
            .map(|oidc| OidcSettings::load(oidc, &public_url, &token_audience, &database_url))
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            team_id,
            key_id,
            apple_key,
            client_id,
            bundle_ids,
            redirect_uri,
            listen,
            public_url,
            database_url,
            apple,
            scopes,
            allowed_return_origins,
            web,
            apple_js_url,
            service_keys,
            link_by_email: raw.link_by_email.unwrap_or(false),
            native_nonce: native_nonce(raw.native_nonce.as_deref())?,
            access_token_ttl,
            session_ttl,
            session_max_age,
            token_audience,
            refresh_reuse_grace_secs: raw.refresh_reuse_grace_secs.unwrap_or(0),
            deletion_retry_secs: raw.deletion_retry_secs.unwrap_or(30).max(1),
            webhooks,
            webhook_retry_secs: raw.webhook_retry_secs.unwrap_or(10).max(1),
            reconcile_interval: raw.reconcile_interval.unwrap_or(86_400),
            reconcile_per_second: clamp_u32(raw.reconcile_per_second.unwrap_or(5)).max(1),
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
            trusted_proxies: trusted_proxies(raw.trusted_proxies)?,
            oidc,
        })
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

/// A setting that must be given (and not blank).
fn required(value: Option<String>, key: &str, what: &str) -> Result<String, ConfigError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| missing(key, what))
}

/// A secret setting that must be given (and not blank).
fn required_secret(
    value: Option<SecretSetting>,
    key: &str,
    what: &str,
) -> Result<SecretSetting, ConfigError> {
    value
        .filter(|v| !v.secret().trim().is_empty())
        .ok_or_else(|| missing(key, what))
}

fn missing(key: &str, what: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!(
            "missing: set {key} in the config file or SIWA_{} ({what})",
            key.to_ascii_uppercase()
        ),
    )
}

/// Settings of earlier versions, refused with what replaced them.
fn refuse_replaced(raw: &RawSettings) -> Result<(), ConfigError> {
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
    Ok(())
}

/// The team's `.p8`, from a path or its PEM text (the kit's bounded loader).
fn load_apple_key(value: &str) -> Result<SigningKey, ConfigError> {
    LoadedKey::from_setting("private_key", value)
        .map(LoadedKey::into_key)
        .map_err(|e| ConfigError::new("private_key", format!("{e}; {}", e.hint())))
}

/// `allowed_return_origins`, each an origin; by default the public URL's.
fn return_origins(list: Option<Vec<String>>, public_url: &str) -> Result<Vec<String>, ConfigError> {
    match list {
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
            .collect(),
        None => Ok(vec![origin_of(public_url).ok_or_else(|| {
            ConfigError::new("public_url", "not an absolute URL")
        })?]),
    }
}

/// `apple_js_url`; by default Apple's CDN, or, with another `apple_base_url`
/// (the emulator), that server's copy at the same path.
fn apple_js_url(
    setting: Option<String>,
    apple_base_url: Option<&str>,
) -> Result<String, ConfigError> {
    const PATH: &str = "/appleauth/static/jsapi/appleid/1/en_US/appleid.auth.js";
    let url = match (setting, apple_base_url.map(|b| b.trim_end_matches('/'))) {
        (Some(url), _) => url,
        (None, None | Some("https://appleid.apple.com")) => {
            format!("https://appleid.cdn-apple.com{PATH}")
        }
        (None, Some(base)) => format!("{base}{PATH}"),
    };
    check_web_url("apple_js_url", &url)?;
    Ok(url)
}

/// Apple's endpoints from `apple_base_url` and `api`.
fn apple_endpoints(base: Option<String>, api: Option<&str>) -> Result<Endpoints, ConfigError> {
    let base = base.unwrap_or_else(|| "https://appleid.apple.com".into());
    let api = match api {
        None => Api::default(),
        Some(text) => text
            .parse::<Api>()
            .map_err(|_| ConfigError::new("api", "use sign-in-with-apple or org-data-sharing"))?,
    };
    Endpoints::new(base.trim_end_matches('/'), api)
        .map_err(|e| ConfigError::new("apple_base_url", format!("{e}; {}", e.hint())))
}

/// `scope`: space-separated scopes Apple knows (`name`, `email`); empty asks for none.
fn scopes(text: Option<&str>) -> Result<Vec<Scope>, ConfigError> {
    text.unwrap_or("name email")
        .split_whitespace()
        .map(|s| {
            s.parse::<Scope>().map_err(|_| {
                ConfigError::new(
                    "scope",
                    format!("{s:?} is not a scope Apple knows: use \"name\", \"email\" or both"),
                )
            })
        })
        .collect()
}

fn native_nonce(text: Option<&str>) -> Result<NativeNonce, ConfigError> {
    match text.map(str::trim) {
        None | Some("required") => Ok(NativeNonce::Required),
        Some("issued") => Ok(NativeNonce::Issued),
        Some("optional") => Ok(NativeNonce::Optional),
        Some(other) => Err(ConfigError::new(
            "native_nonce",
            format!("{other:?} is not one of \"required\", \"issued\", \"optional\""),
        )),
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
