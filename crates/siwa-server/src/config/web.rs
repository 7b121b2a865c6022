//! The web front ends: one Services ID each (the primary one from the
//! top-level `client_id`, `redirect_uri`, … settings; more under `[[web]]`),
//! where their sign-ins may return, which pages run Apple's JS in popup mode,
//! and which origins may call `/auth/apple/web/*`.

use serde::Deserialize;
use siwa_kit::client::RedirectUri;
use siwa_kit::ids::ClientId;

use super::urls::{check_web_url, origin_of};
use super::ConfigError;

/// `[[web]]` as written (the top level's keys of the same names for the primary client).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebClient {
    /// The Services ID.
    pub client_id: Option<String>,
    /// Its callback URL registered with Apple (`…/auth/apple/callback` of this service).
    pub redirect_uri: Option<String>,
    /// Origins `return_to` may point to; default: the public URL's.
    pub allowed_return_origins: Option<Vec<String>>,
    /// Pages that run `AppleID.auth` in popup mode (each also a return URL registered with Apple).
    pub popup_redirect_uris: Option<Vec<String>>,
    /// Origins whose pages may call `/auth/apple/web/*` (CORS, with credentials).
    pub allowed_web_origins: Option<Vec<String>>,
}

/// A web front end, parsed.
#[derive(Clone, Debug)]
pub struct WebClient {
    /// Its Services ID.
    pub client_id: ClientId,
    /// Its callback URL registered with Apple.
    pub redirect_uri: RedirectUri,
    /// Origins `return_to` may point to.
    pub allowed_return_origins: Vec<String>,
    /// Popup pages (exactly as given to `AppleID.auth.init`).
    pub popup_redirect_uris: Vec<String>,
    /// Origins allowed to call `/auth/apple/web/*`.
    pub allowed_web_origins: Vec<String>,
}

impl WebClient {
    /// Parses one client; `setting` prefixes the names in messages (`""` for
    /// the top level, `web[1].` for the second `[[web]]`).
    pub(crate) fn parse(
        raw: RawWebClient,
        setting: &str,
        public_url: &str,
    ) -> Result<Self, ConfigError> {
        let key = |name: &str| format!("{setting}{name}");
        let client_id = raw
            .client_id
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| ConfigError::new(key("client_id"), "missing: the Services ID"))?;
        let client_id = ClientId::new(client_id)
            .map_err(|e| ConfigError::new(key("client_id"), format!("{e}; {}", e.hint())))?;
        let redirect_uri = raw
            .redirect_uri
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    key("redirect_uri"),
                    "missing: the callback URL registered with Apple for this Services ID",
                )
            })?;
        check_web_url(&key("redirect_uri"), &redirect_uri)?;
        let redirect_uri = RedirectUri::new(redirect_uri)
            .map_err(|e| ConfigError::new(key("redirect_uri"), e.to_string()))?;
        let allowed_return_origins = match raw.allowed_return_origins {
            Some(list) => origins(&key("allowed_return_origins"), &list)?,
            None => vec![origin_of(public_url)
                .ok_or_else(|| ConfigError::new("public_url", "not an absolute URL"))?],
        };
        let (popup_redirect_uris, allowed_web_origins) =
            popup_settings(setting, raw.popup_redirect_uris, raw.allowed_web_origins)?;
        Ok(Self {
            client_id,
            redirect_uri,
            allowed_return_origins,
            popup_redirect_uris,
            allowed_web_origins,
        })
    }
}

/// `popup_redirect_uris` (each an https, or loopback http, URL) and
/// `allowed_web_origins` (each an origin), checked.
pub(crate) fn popup_settings(
    setting: &str,
    popup_redirect_uris: Option<Vec<String>>,
    allowed_web_origins: Option<Vec<String>>,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let popup_redirect_uris = popup_redirect_uris.unwrap_or_default();
    for uri in &popup_redirect_uris {
        check_web_url(&format!("{setting}popup_redirect_uris"), uri)?;
    }
    let allowed_web_origins = origins(
        &format!("{setting}allowed_web_origins"),
        &allowed_web_origins.unwrap_or_default(),
    )?;
    Ok((popup_redirect_uris, allowed_web_origins))
}

/// Each an origin like `https://example.com` (no path, no wildcard).
fn origins(setting: &str, list: &[String]) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .map(|o| {
            let o = o.trim().trim_end_matches('/');
            match origin_of(o) {
                Some(origin) if origin == o.to_ascii_lowercase() => Ok(origin),
                _ => Err(ConfigError::new(
                    setting,
                    format!("{o:?} is not an origin like https://app.example.com (scheme, host and port only)"),
                )),
            }
        })
        .collect()
}

/// Checks what must hold across the clients: distinct Services IDs, none a bundle ID.
pub(crate) fn check_distinct(
    web: &[WebClient],
    bundle_ids: &[ClientId],
) -> Result<(), ConfigError> {
    for (n, client) in web.iter().enumerate() {
        let id = client.client_id.as_str();
        if web[..n].iter().any(|c| c.client_id.as_str() == id) {
            return Err(ConfigError::new(
                format!("web[{n}].client_id"),
                format!("{id:?} is configured twice"),
            ));
        }
        if bundle_ids.iter().any(|b| b.as_str() == id) {
            return Err(ConfigError::new(
                "bundle_ids",
                format!("{id:?} is a Services ID of the web flow; a bundle ID is an app's"),
            ));
        }
    }
    Ok(())
}
