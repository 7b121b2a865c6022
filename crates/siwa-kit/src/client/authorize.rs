//! The authorization request: the URL a browser is sent to, with Apple's
//! rules on response_type, response_mode and scope applied.

use std::fmt;
use std::str::FromStr;

use crate::claims::Nonce;
use crate::client::error::ConfigError;
use crate::client::tokens::State;

/// A redirect URI: an absolute `http` or `https` URL, kept exactly as given,
/// since Apple compares it character for character with the registered one
/// and with the one sent at the code exchange.
///
/// Apple itself accepts only `https` with a domain name; `http` is allowed here
/// for the emulator.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Parses a redirect URI.
    pub fn new(value: impl Into<String>) -> Result<Self, ConfigError> {
        let value = value.into();
        match redirect_problem(&value) {
            None => Ok(Self(value)),
            Some(reason) => Err(ConfigError::RedirectUri {
                value: shorten(&value, MAX_SHOWN),
                reason,
            }),
        }
    }

    /// The URI as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RedirectUri {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::new(s)
    }
}

/// What the authorization answers with.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ResponseType {
    /// `code` (the default).
    #[default]
    Code,
    /// `code id_token`: the identity token comes with the code.
    CodeIdToken,
}

impl ResponseType {
    /// The value Apple takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::CodeIdToken => "code id_token",
        }
    }
}

impl FromStr for ResponseType {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "code" => Ok(Self::Code),
            "code id_token" | "code+id_token" | "code-id-token" => Ok(Self::CodeIdToken),
            other => Err(unknown("response_type", other, "code, \"code id_token\"")),
        }
    }
}

/// How the authorization's answer reaches the redirect URI.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ResponseMode {
    /// `form_post`: a POST of a form (required with a scope).
    FormPost,
    /// `fragment`: in the redirect URL's fragment.
    Fragment,
    /// `query`: in the redirect URL's query.
    Query,
}

impl ResponseMode {
    /// The value Apple takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FormPost => "form_post",
            Self::Fragment => "fragment",
            Self::Query => "query",
        }
    }
}

impl FromStr for ResponseMode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "form_post" | "form-post" => Ok(Self::FormPost),
            "fragment" => Ok(Self::Fragment),
            "query" => Ok(Self::Query),
            other => Err(unknown(
                "response_mode",
                other,
                "query, fragment, form_post",
            )),
        }
    }
}

/// What the user is asked to share.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Scope {
    /// `email`: the email address (real or private relay).
    Email,
    /// `name`: first and last name, sent once, in the callback's `user` field.
    Name,
}

impl Scope {
    /// The value Apple takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Name => "name",
        }
    }

    /// Parses a space- or comma-separated list such as `"name email"`.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, ConfigError> {
        let mut scopes = Vec::new();
        for word in text.split([' ', ',']).filter(|w| !w.is_empty()) {
            let scope = word.parse()?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(scopes)
    }
}

impl FromStr for Scope {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "email" => Ok(Self::Email),
            "name" => Ok(Self::Name),
            other => Err(unknown("scope", other, "name, email")),
        }
    }
}

/// The parameters of an authorization request, but the client id.
///
/// `Debug` redacts the state and the nonce.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    redirect_uri: RedirectUri,
    response_type: ResponseType,
    response_mode: Option<ResponseMode>,
    scopes: Vec<Scope>,
    state: Option<State>,
    nonce: Option<Nonce>,
}

impl AuthorizeRequest {
    /// A request answering to `redirect_uri` with `response_type=code`, no
    /// scope, no state, no nonce, and the response mode chosen by
    /// [`Self::effective_response_mode`].
    pub fn new(redirect_uri: RedirectUri) -> Self {
        Self {
            redirect_uri,
            response_type: ResponseType::Code,
            response_mode: None,
            scopes: Vec::new(),
            state: None,
            nonce: None,
        }
    }

    /// Sets `response_type` (default `code`).
    pub fn response_type(mut self, response_type: ResponseType) -> Self {
        self.response_type = response_type;
        self
    }

    /// Sets `response_mode` explicitly (default: see [`Self::effective_response_mode`]).
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = Some(mode);
        self
    }

    /// Adds a scope (each is sent once, in the order added).
    pub fn scope(mut self, scope: Scope) -> Self {
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
        self
    }

    /// Adds scopes.
    pub fn scopes(self, scopes: impl IntoIterator<Item = Scope>) -> Self {
        scopes.into_iter().fold(self, Self::scope)
    }

    /// Sets `state`, echoed by the callback.
    pub fn state(mut self, state: State) -> Self {
        self.state = Some(state);
        self
    }

    /// Sets `nonce`, copied into the identity token's `nonce` claim.
    pub fn nonce(mut self, nonce: Nonce) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The redirect URI.
    pub fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// The mode that will be sent: the one set, else `form_post` when a scope
    /// is asked for, `fragment` when `id_token` is in the response type, and
    /// `query` otherwise. A set mode that Apple would refuse (`query` or
    /// `fragment` with a scope, `query` with `id_token`) is an error.
    pub fn effective_response_mode(&self) -> Result<ResponseMode, ConfigError> {
        let wants_id_token = self.response_type == ResponseType::CodeIdToken;
        match self.response_mode {
            None if !self.scopes.is_empty() => Ok(ResponseMode::FormPost),
            None if wants_id_token => Ok(ResponseMode::Fragment),
            None => Ok(ResponseMode::Query),
            Some(mode @ (ResponseMode::Query | ResponseMode::Fragment))
                if !self.scopes.is_empty() =>
            {
                Err(ConfigError::ResponseMode {
                    mode: mode.as_str(),
                    reason: "with a scope: Apple requires form_post",
                })
            }
            Some(ResponseMode::Query) if wants_id_token => Err(ConfigError::ResponseMode {
                mode: "query",
                reason:
                    "with response_type \"code id_token\": Apple requires fragment or form_post",
            }),
            Some(mode) => Ok(mode),
        }
    }

    /// The query string (without `?`), every value percent-encoded.
    pub(crate) fn query(&self, client_id: &str) -> Result<String, ConfigError> {
        let mode = self.effective_response_mode()?;
        let scope = self
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", client_id),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("response_type", self.response_type.as_str()),
            ("response_mode", mode.as_str()),
        ];
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        if let Some(state) = &self.state {
            pairs.push(("state", state.secret()));
        }
        if let Some(nonce) = &self.nonce {
            pairs.push(("nonce", nonce.secret()));
        }
        let mut query = String::new();
        for (name, value) in pairs {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(name);
            query.push('=');
            percent_encode_into(value, &mut query);
        }
        Ok(query)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a
/// space is `%20` (as Apple's own JS sends it), never `+`.
pub(crate) fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

fn redirect_problem(value: &str) -> Option<&'static str> {
    if value.len() > MAX_URI_LEN {
        return Some("it is longer than 2048 bytes");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains whitespace or control characters");
    }
    if value.contains('#') {
        return Some("it has a fragment (#...)");
    }
    let Ok(uri) = value.parse::<http::Uri>() else {
        return Some("it is not a URL");
    };
    match uri.scheme_str() {
        Some("https" | "http") => {}
        Some(_) => return Some("its scheme is not https"),
        None => return Some("it is not absolute (https://host/path)"),
    }
    match uri.authority() {
        None => Some("it has no host"),
        Some(a) if a.as_str().contains('@') => Some("it holds a user name or password"),
        Some(a) if a.host().is_empty() => Some("it has no host"),
        Some(_) => None,
    }
}

fn unknown(setting: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::UnknownValue {
        setting,
        value: shorten(value, 40),
        expected,
    }
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

const MAX_URI_LEN: usize = 2048;
const MAX_SHOWN: usize = 120;
