//! Apple's REST API: the authorization URL, code exchange, refresh, revoke.
//!
//! [`AppleClient`] speaks for one client id (a Services ID for the web flow,
//! or an app's bundle ID for codes from a native app) with a client_secret
//! whose `sub` is that client id. A service with a web flow and native apps
//! keeps one client per client id; [`AppleClient::for_client`] makes a sibling
//! sharing the HTTP client and endpoints.
//!
//! Every request is built and every answer read by a pure function
//! ([`AppleClient::exchange_code_request`], [`parse_token_response`], ...);
//! the async methods only add sending them through an [`HttpClient`], which
//! bounds time and body size.
//!
//! [`Endpoints`] say where Apple is: the base URL (Apple's, or the emulator's)
//! and the API family ([`Api`]): Sign in with Apple (`/auth/...`) or Account &
//! Organizational Data Sharing (`/auth/oauth2/v2/...`). Its
//! [`Endpoints::keys_uri`] is the key set the verifier fetches.
//!
//! ```no_run
//! use std::sync::Arc;
//! use siwa_kit::client::{AppleClient, AuthorizationCode, RedirectUri};
//! use siwa_kit::clock::SystemClock;
//! use siwa_kit::http::ReqwestClient;
//! use siwa_kit::ids::{ClientId, KeyId, TeamId};
//! use siwa_kit::{ClientSecretBuilder, SecretCache};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let key = Arc::new(siwa_kit::p8::SigningKey::from_pem(include_str!("../tests/fixtures/AuthKey_ABC123DEFG.p8"))?);
//! let builder = ClientSecretBuilder::new(
//!     TeamId::new("DEF123GHIJ")?,
//!     KeyId::new("ABC123DEFG")?,
//!     ClientId::new("com.example.web")?,
//! );
//! let secrets = Arc::new(SecretCache::new(builder, key, Arc::new(SystemClock)));
//! let apple = AppleClient::from_cache(secrets, Arc::new(ReqwestClient::new()?));
//! let redirect = RedirectUri::new("https://example.com/auth/apple/callback")?;
//! let tokens = apple
//!     .exchange_code(&AuthorizationCode::new("c1f2…"), Some(&redirect))
//!     .await?;
//! println!("expires in {} s", tokens.expires_in);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::http::HttpClient;
use crate::ids::ClientId;
use crate::secret::{ClientSecret, SecretCache, SecretError};

mod authorize;
mod error;
mod migration;
mod probe;
mod tokens;
mod wire;

pub use self::authorize::{AuthorizeRequest, RedirectUri, ResponseMode, ResponseType, Scope};
pub use self::error::{AppleErrorCode, ClientError, ConfigError, Operation};
pub use self::migration::{parse_migration_token, MigratedUser, MIGRATION_SCOPE};
pub use self::probe::{probe_check, PROBE_CODE};
pub use self::tokens::{
    AccessToken, AuthorizationCode, ClientSecretText, IdToken, RefreshToken, RevokeToken, State,
    TokenResponse, TokenTypeHint,
};
pub use self::wire::{
    form_post, parse_revoke_response, parse_token_response, EMULATOR_REASON_HEADER,
    FORM_CONTENT_TYPE,
};

/// Apple's base URL.
pub const APPLE_BASE_URL: &str = "https://appleid.apple.com";

/// Which of Apple's API families the endpoints belong to. Both take the same
/// client_secret and answer in the same shapes.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Api {
    /// Account & Organizational Data Sharing: `/auth/oauth2/v2/authorize|token|keys|revoke`.
    OrgDataSharing,
    /// Sign in with Apple: `/auth/authorize|token|keys|revoke` (the default).
    #[default]
    SignInWithApple,
}

impl Api {
    /// The setting's name: `sign-in-with-apple` or `org-data-sharing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgDataSharing => "org-data-sharing",
            Self::SignInWithApple => "sign-in-with-apple",
        }
    }

    /// The path the four endpoints share: `/auth` or `/auth/oauth2/v2`.
    pub fn path_prefix(self) -> &'static str {
        match self {
            Self::OrgDataSharing => "/auth/oauth2/v2",
            Self::SignInWithApple => "/auth",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Api {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "sign-in-with-apple" | "sign_in_with_apple" => Ok(Self::SignInWithApple),
            "org-data-sharing" | "org_data_sharing" => Ok(Self::OrgDataSharing),
            other => Err(ConfigError::UnknownValue {
                setting: "api",
                value: authorize::shorten(other, 40),
                expected: "sign-in-with-apple, org-data-sharing",
            }),
        }
    }
}

/// Where Apple's four endpoints are: a base URL and an [`Api`] family.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Endpoints {
    api: Api,
    base: String,
    authorize: String,
    token: http::Uri,
    keys: http::Uri,
    revoke: http::Uri,
    migration_info: http::Uri,
}

impl Endpoints {
    /// Apple's own endpoints (`https://appleid.apple.com`) of this family.
    pub fn apple(api: Api) -> Self {
        let (authorize, token, keys, revoke) = match api {
            Api::OrgDataSharing => (
                "https://appleid.apple.com/auth/oauth2/v2/authorize",
                "https://appleid.apple.com/auth/oauth2/v2/token",
                "https://appleid.apple.com/auth/oauth2/v2/keys",
                "https://appleid.apple.com/auth/oauth2/v2/revoke",
            ),
            Api::SignInWithApple => (
                "https://appleid.apple.com/auth/authorize",
                "https://appleid.apple.com/auth/token",
                "https://appleid.apple.com/auth/keys",
                "https://appleid.apple.com/auth/revoke",
            ),
        };
        Self {
            api,
            base: APPLE_BASE_URL.to_owned(),
            authorize: authorize.to_owned(),
            token: http::Uri::from_static(token),
            keys: http::Uri::from_static(keys),
            revoke: http::Uri::from_static(revoke),
            migration_info: http::Uri::from_static(
                "https://appleid.apple.com/auth/usermigrationinfo",
            ),
        }
    }

    /// The endpoints of this family under `base_url`: `http(s)://host[:port]`,
    /// optionally with a path prefix (a trailing `/` is dropped), no query.
    pub fn new(base_url: &str, api: Api) -> Result<Self, ConfigError> {
        let base = base_url.trim().trim_end_matches('/');
        let bad = |reason| ConfigError::BaseUrl {
            value: without_userinfo(base),
            reason,
        };
        let uri: http::Uri = base.parse().map_err(|_| bad("it is not a URL"))?;
        match uri.scheme_str() {
            Some("https" | "http") => {}
            Some(_) => return Err(bad("its scheme is not http or https")),
            None => return Err(bad("it is not absolute (https://host)")),
        }
        match uri.authority() {
            None => return Err(bad("it has no host")),
            Some(a) if a.as_str().contains('@') => {
                return Err(bad("it holds a user name or password"))
            }
            Some(a) if a.host().is_empty() => return Err(bad("it has no host")),
            Some(_) => {}
        }
        if uri.query().is_some() || base.contains('#') {
            return Err(bad("it has a query or fragment"));
        }
        let at = |name: &str| -> Result<http::Uri, ConfigError> {
            format!("{base}{}/{name}", api.path_prefix())
                .parse()
                .map_err(|_| bad("its endpoints are not valid URLs"))
        };
        Ok(Self {
            api,
            base: base.to_owned(),
            authorize: at("authorize")?.to_string(),
            token: at("token")?,
            keys: at("keys")?,
            revoke: at("revoke")?,
            // Team transfer has one endpoint, whatever the family.
            migration_info: format!("{base}/auth/usermigrationinfo")
                .parse()
                .map_err(|_| bad("its endpoints are not valid URLs"))?,
        })
    }

    /// The API family.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The authorization endpoint (a browser goes there; see [`Self::authorize_url`]).
    pub fn authorize_endpoint(&self) -> &str {
        &self.authorize
    }

    /// The token endpoint.
    pub fn token_uri(&self) -> &http::Uri {
        &self.token
    }

    /// The key set (JWKS) that signs this family's identity tokens: give it to
    /// [`crate::jwks::KeyCache::remote`] so the verifier follows the setting.
    pub fn keys_uri(&self) -> &http::Uri {
        &self.keys
    }

    /// The revoke endpoint.
    pub fn revoke_uri(&self) -> &http::Uri {
        &self.revoke
    }

    /// Team transfer's `/auth/usermigrationinfo`.
    pub fn migration_info_uri(&self) -> &http::Uri {
        &self.migration_info
    }

    /// The URL to send the user's browser to, every value percent-encoded.
    /// Needs no client_secret.
    pub fn authorize_url(
        &self,
        client_id: &ClientId,
        request: &AuthorizeRequest,
    ) -> Result<String, ConfigError> {
        Ok(format!(
            "{}?{}",
            self.authorize,
            request.query(client_id.as_str())?
        ))
    }
}

impl Default for Endpoints {
    /// Apple's Sign in with Apple endpoints.
    fn default() -> Self {
        Self::apple(Api::SignInWithApple)
    }
}

/// Where the client_secret comes from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SecretSource {
    /// One secret, used as is until it expires (e.g. made by `siwa secret`).
    Fixed(Arc<ClientSecret>),
    /// A cache that signs a new secret before the current one expires: the
    /// choice for a long-running service.
    Renewing(Arc<SecretCache>),
    /// A JWT made elsewhere, sent unchecked (`siwa doctor --probe` uses this
    /// to ask Apple about a secret of unknown origin).
    Text(ClientSecretText),
}

impl SecretSource {
    /// Runs `f` with the secret to send now.
    fn with_current<T>(&self, f: impl FnOnce(&str) -> T) -> Result<T, SecretError> {
        Ok(match self {
            Self::Fixed(secret) => f(secret.secret()),
            Self::Renewing(cache) => f(cache.current()?.secret()),
            Self::Text(text) => f(text.secret()),
        })
    }
}

impl From<ClientSecret> for SecretSource {
    fn from(secret: ClientSecret) -> Self {
        Self::Fixed(Arc::new(secret))
    }
}

impl From<Arc<ClientSecret>> for SecretSource {
    fn from(secret: Arc<ClientSecret>) -> Self {
        Self::Fixed(secret)
    }
}

impl From<Arc<SecretCache>> for SecretSource {
    fn from(cache: Arc<SecretCache>) -> Self {
        Self::Renewing(cache)
    }
}

impl From<SecretCache> for SecretSource {
    fn from(cache: SecretCache) -> Self {
        Self::Renewing(Arc::new(cache))
    }
}

impl From<ClientSecretText> for SecretSource {
    fn from(text: ClientSecretText) -> Self {
        Self::Text(text)
    }
}

/// Apple's REST API for one client id.
///
/// Cheap to clone (the HTTP client and secrets are shared). `Debug` shows no
/// secret.
#[derive(Clone, Debug)]
pub struct AppleClient {
    client_id: ClientId,
    secret: SecretSource,
    endpoints: Endpoints,
    http: Arc<dyn HttpClient>,
}

impl AppleClient {
    /// A client for `client_id` at Apple's Sign in with Apple endpoints.
    ///
    /// The secret's `sub` must be `client_id`, or Apple answers `invalid_client`.
    pub fn new(
        client_id: ClientId,
        secret: impl Into<SecretSource>,
        http: Arc<dyn HttpClient>,
    ) -> Self {
        Self {
            client_id,
            secret: secret.into(),
            endpoints: Endpoints::default(),
            http,
        }
    }

    /// A client for the client id the cache signs secrets for.
    pub fn from_cache(cache: Arc<SecretCache>, http: Arc<dyn HttpClient>) -> Self {
        Self::new(cache.client_id().clone(), cache, http)
    }

    /// Sets where Apple is (default: [`Endpoints::default`]).
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// A client for another client id (say, a native app's bundle ID) with
    /// the same endpoints and HTTP client.
    pub fn for_client(&self, client_id: ClientId, secret: impl Into<SecretSource>) -> Self {
        Self {
            client_id,
            secret: secret.into(),
            endpoints: self.endpoints.clone(),
            http: Arc::clone(&self.http),
        }
    }

    /// The client id sent with every request.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The endpoints in use.
    pub fn current_endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The URL to send the user's browser to, for this client id.
    pub fn authorize_url(&self, request: &AuthorizeRequest) -> Result<String, ConfigError> {
        self.endpoints.authorize_url(&self.client_id, request)
    }

    /// The code exchange request (`grant_type=authorization_code`).
    /// `redirect_uri` must be sent exactly when the authorization request had one.
    pub fn exchange_code_request(
        &self,
        code: &AuthorizationCode,
        redirect_uri: Option<&RedirectUri>,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let uri = self.endpoints.token_uri();
        self.with_secret(|client_id, secret| {
            let mut fields = vec![
                ("client_id", client_id),
                ("client_secret", secret),
                ("code", code.secret()),
                ("grant_type", "authorization_code"),
            ];
            if let Some(redirect_uri) = redirect_uri {
                fields.push(("redirect_uri", redirect_uri.as_str()));
            }
            form_post(uri, &fields)
        })
    }

    /// Exchanges an authorization code for tokens. The answer carries a
    /// refresh token; verify its identity token before trusting it.
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        redirect_uri: Option<&RedirectUri>,
    ) -> Result<TokenResponse, ClientError> {
        let request = self.exchange_code_request(code, redirect_uri)?;
        let response = self.send(Operation::ExchangeCode, request).await?;
        parse_token_response(Operation::ExchangeCode, &response)
    }

    /// The refresh request (`grant_type=refresh_token`).
    pub fn refresh_request(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let uri = self.endpoints.token_uri();
        self.with_secret(|client_id, secret| {
            form_post(
                uri,
                &[
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.secret()),
                ],
            )
        })
    }

    /// Asks for a new access token and identity token; the answer has no
    /// refresh token (keep the one you have). Apple answers `invalid_grant`
    /// once the user has revoked the app.
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<TokenResponse, ClientError> {
        let request = self.refresh_request(refresh_token)?;
        let response = self.send(Operation::Refresh, request).await?;
        parse_token_response(Operation::Refresh, &response)
    }

    /// The revoke request, with `token_type_hint` from the token's type.
    pub fn revoke_request(
        &self,
        token: RevokeToken<'_>,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let uri = self.endpoints.revoke_uri();
        self.with_secret(|client_id, secret| {
            form_post(
                uri,
                &[
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("token", token.secret()),
                    ("token_type_hint", token.hint().as_str()),
                ],
            )
        })
    }

    /// Revokes a token. Success also when the token was already invalid
    /// (Apple's revoke is idempotent). Revoking the refresh token ends the
    /// user's authorization of the app.
    pub async fn revoke<'a>(&self, token: impl Into<RevokeToken<'a>>) -> Result<(), ClientError> {
        let request = self.revoke_request(token.into())?;
        let response = self.send(Operation::Revoke, request).await?;
        parse_revoke_response(&response)
    }

    /// Sends one request; a response of any status is `Ok`.
    async fn send(
        &self,
        operation: Operation,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ClientError> {
        self.http
            .send(request)
            .await
            .map_err(|source| ClientError::Http { operation, source })
    }

    /// Runs `build` with the client id and the current secret.
    fn with_secret<T>(
        &self,
        build: impl FnOnce(&str, &str) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if let SecretSource::Renewing(cache) = &self.secret {
            if cache.client_id() != &self.client_id {
                return Err(ClientError::Config(ConfigError::SecretClientMismatch {
                    client_id: self.client_id.to_string(),
                    secret_client_id: cache.client_id().to_string(),
                }));
            }
        }
        self.secret
            .with_current(|secret| build(self.client_id.as_str(), secret))
            .map_err(ClientError::Secret)?
    }
}

fn without_userinfo(url: &str) -> String {
    let shown = match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}[…]{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    };
    authorize::shorten(&shown, 120)
}

#[cfg(test)]
mod tests;
