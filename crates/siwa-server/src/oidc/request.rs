//! The authorization request (`GET /oauth2/authorize`), read strictly: the
//! client and its redirect URI first (until both are known good, an error
//! is a page, never a redirect: RFC 6749 §4.1.2.1), then everything else
//! (an error then goes back to the client). Only the code flow, PKCE with
//! S256, no request objects (RFC 9700 §2.1).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::errors::{Code, OAuthError};
use super::settings::OidcSettings;

/// Longest query accepted (state, nonce and the rest fit easily).
pub(crate) const MAX_QUERY_LEN: usize = 8 * 1024;
/// Longest `state` or `nonce` accepted.
const MAX_VALUE_LEN: usize = 1024;

/// What `prompt` asks.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) enum Prompt {
    /// Nothing: sign in only if there is no session.
    Default,
    /// Never show anything: answer `login_required` when there is no session.
    None,
    /// Sign in again with Apple even with a session (`login`, `select_account`).
    Login,
}

/// A valid authorization request.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub(crate) struct AuthorizationRequest {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    /// The granted scope, normalized (`openid`, then `profile`, `email`).
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    /// PKCE's S256 challenge.
    pub(crate) code_challenge: Option<String>,
    pub(crate) prompt: Prompt,
    /// Seconds since the user's sign-in beyond which they must sign in again.
    pub(crate) max_age: Option<i64>,
}

/// Why a request is refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The client or its redirect URI is unknown: a page, no redirect.
    Page(&'static str),
    /// Back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// Parses and checks a request's query string.
pub(crate) fn parse(query: &str, oidc: &OidcSettings) -> Result<AuthorizationRequest, Refusal> {
    if query.len() > MAX_QUERY_LEN {
        return Err(Refusal::Page("The sign-in request is too large."));
    }
    let mut params: HashMap<String, String> = HashMap::new();
    let mut repeated = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if params.contains_key(name.as_ref()) {
            repeated = Some(name.clone().into_owned());
            continue;
        }
        params.insert(name.into_owned(), value.into_owned());
    }
    // The client and its redirect URI, or a page.
    let single = |name: &str| repeated.as_deref() != Some(name);
    let client_id = params
        .get("client_id")
        .filter(|_| single("client_id"))
        .ok_or(Refusal::Page("The sign-in request names no application."))?;
    let client = oidc.client(client_id).ok_or(Refusal::Page(
        "The application of this sign-in request is not registered here.",
    ))?;
    let redirect_uri = params
        .get("redirect_uri")
        .filter(|_| single("redirect_uri"))
        .ok_or(Refusal::Page(
            "The sign-in request names no return address.",
        ))?;
    if !client.allows_redirect(redirect_uri) {
        return Err(Refusal::Page(
            "The return address of this sign-in request is not registered for the application.",
        ));
    }
    // From here on, errors go back to the client.
    let state = params.get("state").cloned();
    let refuse = |code: Code, description: &'static str| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    if repeated.is_some() {
        return Err(refuse(Code::InvalidRequest, "a parameter is repeated"));
    }
    if params.contains_key("request") {
        return Err(refuse(
            Code::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(refuse(
            Code::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None => return Err(refuse(Code::InvalidRequest, "response_type is missing")),
        Some(_) => {
            return Err(refuse(
                Code::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !matches!(
        params.get("response_mode").map(String::as_str),
        None | Some("query")
    ) {
        return Err(refuse(
            Code::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }
    let scope = granted_scope(params.get("scope").map(String::as_str).unwrap_or(""))
        .ok_or_else(|| refuse(Code::InvalidScope, "the scope must include openid"))?;
    for value in [&state, &params.get("nonce").cloned()]
        .into_iter()
        .flatten()
    {
        if value.len() > MAX_VALUE_LEN {
            return Err(refuse(Code::InvalidRequest, "state or nonce is too long"));
        }
    }
    let method = params.get("code_challenge_method").map(String::as_str);
    let code_challenge = match params.get("code_challenge") {
        None if method.is_some() => {
            return Err(refuse(Code::InvalidRequest, "code_challenge is missing"))
        }
        None if client.is_confidential() => None,
        None => return Err(refuse(
            Code::InvalidRequest,
            "PKCE is required for this client: send code_challenge with code_challenge_method=S256",
        )),
        // An absent method means `plain` (RFC 7636 §4.3), which is refused.
        Some(_) if method != Some("S256") => {
            return Err(refuse(
                Code::InvalidRequest,
                "code_challenge_method must be S256",
            ))
        }
        Some(challenge) if !is_s256_challenge(challenge) => {
            return Err(refuse(
                Code::InvalidRequest,
                "code_challenge is not a base64url SHA-256 (43 characters)",
            ))
        }
        Some(challenge) => Some(challenge.clone()),
    };
    let prompt = prompt(params.get("prompt").map(String::as_str))
        .ok_or_else(|| refuse(Code::InvalidRequest, "prompt is not understood"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(text) => Some(
            text.parse::<u32>()
                .map(i64::from)
                .map_err(|_| refuse(Code::InvalidRequest, "max_age is not a number of seconds"))?,
        ),
    };
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        state,
        nonce: params.get("nonce").cloned(),
        code_challenge,
        prompt,
        max_age,
    })
}

/// The scope granted for a requested one: `openid` (required), `profile`
/// (Apple's `name` is taken for it too) and `email`; others are ignored
/// (OpenID Connect Core §3.1.2.1).
pub(crate) fn granted_scope(requested: &str) -> Option<String> {
    let words: Vec<&str> = requested.split(' ').filter(|w| !w.is_empty()).collect();
    if !words.contains(&"openid") {
        return None;
    }
    let mut scope = String::from("openid");
    if words.iter().any(|w| matches!(*w, "profile" | "name")) {
        scope.push_str(" profile");
    }
    if words.contains(&"email") {
        scope.push_str(" email");
    }
    Some(scope)
}

/// Whether a scope string grants `word`.
pub(crate) fn grants(scope: &str, word: &str) -> bool {
    scope.split(' ').any(|w| w == word)
}

fn prompt(text: Option<&str>) -> Option<Prompt> {
    let Some(text) = text else {
        return Some(Prompt::Default);
    };
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    if words.contains(&"none") {
        // `none` with anything else is an error (OpenID Connect Core §3.1.2.1).
        return (words.len() == 1).then_some(Prompt::None);
    }
    let mut prompt = Prompt::Default;
    for word in words {
        match word {
            "login" | "select_account" => prompt = Prompt::Login,
            // The operator registered the client: consent is given by configuration.
            "consent" => {}
            _ => return None,
        }
    }
    Some(prompt)
}

/// 43 characters of base64url: what S256 makes (RFC 7636 §4.2).
fn is_s256_challenge(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn oidc() -> OidcSettings {
        super::super::settings::test_settings("wiki", &"x".repeat(40))
    }

    fn query(pairs: &[(&str, &str)]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            out.append_pair(k, v);
        }
        out.finish()
    }

    const WIKI: [(&str, &str); 4] = [
        ("client_id", "wiki"),
        ("redirect_uri", "https://wiki.example.com/cb"),
        ("response_type", "code"),
        ("scope", "openid email name"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> String {
        let mut pairs = WIKI.to_vec();
        pairs.extend_from_slice(extra);
        query(&pairs)
    }

    fn redirect_code(q: &str) -> Code {
        match parse(q, &oidc()) {
            Err(Refusal::Redirect { error, .. }) => error.code,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_read() {
        let request = parse(
            &with(&[
                ("state", "s1"),
                ("nonce", "n1"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("max_age", "60"),
            ]),
            &oidc(),
        )
        .unwrap();
        assert_eq!(request.scope, "openid profile email");
        assert_eq!(request.state.as_deref(), Some("s1"));
        assert_eq!(request.nonce.as_deref(), Some("n1"));
        assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(request.max_age, Some(60));
        assert_eq!(request.prompt, Prompt::Default);
    }

    #[test]
    fn unknown_clients_and_redirects_get_a_page_never_a_redirect() {
        for q in [
            query(&[("redirect_uri", "https://wiki.example.com/cb")]),
            query(&[
                ("client_id", "nobody"),
                ("redirect_uri", "https://wiki.example.com/cb"),
            ]),
            query(&[("client_id", "wiki")]),
            query(&[
                ("client_id", "wiki"),
                ("redirect_uri", "https://evil.example/cb"),
            ]),
            query(&[
                ("client_id", "wiki"),
                ("client_id", "app"),
                ("redirect_uri", "https://wiki.example.com/cb"),
            ]),
            query(&[
                ("client_id", "wiki"),
                ("redirect_uri", "https://wiki.example.com/cb"),
                ("redirect_uri", "https://evil.example/cb"),
            ]),
            "x".repeat(MAX_QUERY_LEN + 1),
        ] {
            assert!(matches!(parse(&q, &oidc()), Err(Refusal::Page(_))), "{q}");
        }
    }

    #[test]
    fn other_mistakes_go_back_to_the_client_with_its_state() {
        match parse(
            &with(&[("state", "keep-me"), ("response_type", "token")]),
            &oidc(),
        ) {
            Err(Refusal::Redirect {
                redirect_uri,
                state,
                error,
            }) => {
                assert_eq!(redirect_uri, "https://wiki.example.com/cb");
                assert_eq!(state.as_deref(), Some("keep-me"));
                assert_eq!(error.code, Code::InvalidRequest, "response_type repeated");
            }
            other => panic!("{other:?}"),
        }
        let only = |pairs: &[(&str, &str)]| {
            let mut all = vec![
                ("client_id", "wiki"),
                ("redirect_uri", "https://wiki.example.com/cb"),
            ];
            all.extend_from_slice(pairs);
            redirect_code(&query(&all))
        };
        assert_eq!(
            only(&[("response_type", "token"), ("scope", "openid")]),
            Code::UnsupportedResponseType
        );
        assert_eq!(
            only(&[("response_type", "code id_token"), ("scope", "openid")]),
            Code::UnsupportedResponseType
        );
        assert_eq!(only(&[("scope", "openid")]), Code::InvalidRequest);
        assert_eq!(
            only(&[("response_type", "code"), ("scope", "email")]),
            Code::InvalidScope
        );
        assert_eq!(
            redirect_code(&with(&[("request", "eyJ")])),
            Code::RequestNotSupported
        );
        assert_eq!(
            redirect_code(&with(&[("request_uri", "https://x")])),
            Code::RequestUriNotSupported
        );
        assert_eq!(
            redirect_code(&with(&[("response_mode", "fragment")])),
            Code::InvalidRequest
        );
        assert_eq!(
            redirect_code(&with(&[("prompt", "none login")])),
            Code::InvalidRequest
        );
        assert_eq!(
            redirect_code(&with(&[("prompt", "sometimes")])),
            Code::InvalidRequest
        );
        assert_eq!(
            redirect_code(&with(&[("max_age", "-1")])),
            Code::InvalidRequest
        );
        let long = "n".repeat(MAX_VALUE_LEN + 1);
        let q = format!("{}&nonce={long}", with(&[]));
        assert_eq!(redirect_code(&q), Code::InvalidRequest);
    }

    #[test]
    fn pkce_is_s256_only_and_required_of_public_clients() {
        let app = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("client_id", "app"),
                ("redirect_uri", "com.example.app:/cb"),
                ("response_type", "code"),
                ("scope", "openid"),
            ];
            pairs.extend_from_slice(extra);
            query(&pairs)
        };
        assert_eq!(
            redirect_code(&app(&[])),
            Code::InvalidRequest,
            "missing PKCE"
        );
        assert_eq!(
            redirect_code(&app(&[("code_challenge", CHALLENGE)])),
            Code::InvalidRequest,
            "plain by default"
        );
        assert_eq!(
            redirect_code(&app(&[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain")
            ])),
            Code::InvalidRequest
        );
        assert_eq!(
            redirect_code(&app(&[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256")
            ])),
            Code::InvalidRequest
        );
        assert_eq!(
            redirect_code(&app(&[("code_challenge_method", "S256")])),
            Code::InvalidRequest
        );
        let ok = parse(
            &app(&[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
            &oidc(),
        )
        .unwrap();
        assert_eq!(ok.code_challenge.as_deref(), Some(CHALLENGE));
        // A confidential client may leave PKCE out.
        assert!(parse(&with(&[]), &oidc()).unwrap().code_challenge.is_none());
    }

    #[test]
    fn prompts_and_scopes() {
        assert_eq!(prompt(Some("none")), Some(Prompt::None));
        assert_eq!(prompt(Some("login consent")), Some(Prompt::Login));
        assert_eq!(prompt(Some("select_account")), Some(Prompt::Login));
        assert_eq!(prompt(Some("consent")), Some(Prompt::Default));
        assert_eq!(granted_scope("openid"), Some("openid".into()));
        assert_eq!(
            granted_scope("email openid offline_access"),
            Some("openid email".into())
        );
        assert_eq!(granted_scope("profile"), None);
        assert!(grants("openid profile email", "email"));
        assert!(!grants("openid profile", "email"));
    }
}
