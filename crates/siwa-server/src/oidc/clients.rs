//! The relying parties the operator registered (`[[oidc.client]]`): their
//! redirect URIs, matched as RFC 9700 asks (exactly; a loopback redirect of
//! a native app with any port, RFC 8252 §7.3), and how each authenticates
//! at the token endpoint.

use std::fmt;

use url::Url;

use crate::config::{ConfigError, RawOidcClient as RawClient};
use crate::crypto::{same, sha256};

/// Shortest client secret accepted: a guessable one would let anyone redeem
/// a stolen code.
pub(crate) const MIN_SECRET_LEN: usize = 32;

/// How a client's ID tokens are signed (`id_token_signed_response_alg`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: OpenID Connect's default, every client can check it.
    Rs256,
    /// ECDSA P-256 with SHA-256, with the service's session key.
    Es256,
}

/// A registered relying party.
pub(crate) struct Client {
    pub(crate) id: String,
    /// SHA-256 of the secret: `None` for a public client (PKCE required).
    secret_hash: Option<Vec<u8>>,
    redirect_uris: Vec<RedirectUri>,
    post_logout_redirect_uris: Vec<String>,
    pub(crate) id_token_alg: IdTokenAlg,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("confidential", &self.secret_hash.is_some())
            .field("redirect_uris", &self.redirect_uris)
            .field("id_token_alg", &self.id_token_alg)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Parses and checks one `[[oidc.client]]`; `n` is its place, for messages.
    pub(crate) fn from_raw(raw: RawClient, n: usize) -> Result<Self, ConfigError> {
        let setting = |key: &str| format!("oidc.client[{n}].{key}");
        let id = raw.id.filter(|id| !id.trim().is_empty()).ok_or_else(|| {
            ConfigError::new(
                setting("id"),
                "missing: the client id the relying party sends",
            )
        })?;
        if id.len() > 255 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ConfigError::new(
                setting("id"),
                "use up to 255 printable characters without spaces",
            ));
        }
        let secret_hash = match raw.secret {
            None => None,
            Some(secret) if secret.secret().len() < MIN_SECRET_LEN => {
                return Err(ConfigError::new(
                    setting("secret"),
                    format!(
                        "too short ({} characters): use at least {MIN_SECRET_LEN}, e.g. `openssl rand -base64 32`; leave it out for a public client (PKCE)",
                        secret.secret().len()
                    ),
                ))
            }
            Some(secret) => Some(sha256(secret.secret().as_bytes())),
        };
        let redirect_uris = raw
            .redirect_uris
            .unwrap_or_default()
            .into_iter()
            .map(|uri| {
                RedirectUri::parse(&uri)
                    .map_err(|why| ConfigError::new(setting("redirect_uris"), why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if redirect_uris.is_empty() {
            return Err(ConfigError::new(
                setting("redirect_uris"),
                "missing: list the URLs the client's sign-in returns to",
            ));
        }
        let post_logout_redirect_uris = raw
            .post_logout_redirect_uris
            .unwrap_or_default()
            .into_iter()
            .map(|uri| {
                RedirectUri::parse(&uri)
                    .map(|parsed| parsed.text)
                    .map_err(|why| ConfigError::new(setting("post_logout_redirect_uris"), why))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id_token_alg = match raw.id_token_signed_response_alg.as_deref().map(str::trim) {
            None | Some("RS256") => IdTokenAlg::Rs256,
            Some("ES256") => IdTokenAlg::Es256,
            Some(other) => {
                return Err(ConfigError::new(
                    setting("id_token_signed_response_alg"),
                    format!("{other:?} is not supported: use \"RS256\" (the default) or \"ES256\""),
                ))
            }
        };
        Ok(Self {
            id,
            secret_hash,
            redirect_uris,
            post_logout_redirect_uris,
            id_token_alg,
        })
    }

    /// Whether it has a secret (else it is public: PKCE is its proof).
    pub(crate) fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether `uri`, as the client sent it, is one of its redirect URIs.
    pub(crate) fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered.matches(uri))
    }

    /// Whether `uri` is one of its post-logout redirect URIs (exactly).
    pub(crate) fn allows_post_logout(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }

    /// Whether `secret` is its secret (constant time); a public client has none.
    pub(crate) fn secret_is(&self, secret: &str) -> bool {
        self.secret_hash
            .as_deref()
            .is_some_and(|hash| same(hash, &sha256(secret.as_bytes())))
    }
}

/// A registered redirect URI.
#[derive(Clone, Debug)]
struct RedirectUri {
    /// Exactly as registered: what a request must send.
    text: String,
    /// For an `http` loopback IP literal: the URI with its port removed, which
    /// a request's must equal (RFC 8252 §7.3: native apps get any free port).
    loopback_without_port: Option<String>,
}

impl RedirectUri {
    /// `https://…`, `http://` on a loopback host, or a private-use scheme of
    /// a native app (`com.example.app:/callback`, RFC 8252 §7.1); never a
    /// fragment.
    fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("{text:?} is not an absolute URL ({e})"))?;
        if url.fragment().is_some() {
            return Err(format!(
                "{text:?} has a fragment; redirect URIs must not (RFC 6749 §3.1.2)"
            ));
        }
        let loopback = is_loopback_ip(&url);
        match url.scheme() {
            "https" => {}
            "http" if loopback || url.host_str() == Some("localhost") => {}
            "http" => {
                return Err(format!(
                    "{text:?} is plain http: use https (http is allowed on 127.0.0.1, [::1] and localhost)"
                ))
            }
            scheme if scheme.contains('.') => {}
            scheme => {
                return Err(format!(
                    "{text:?}: the scheme {scheme:?} is neither https nor a native app's reverse-domain scheme like com.example.app"
                ))
            }
        }
        Ok(Self {
            text: text.to_owned(),
            loopback_without_port: (url.scheme() == "http" && loopback).then(|| without_port(&url)),
        })
    }

    fn matches(&self, candidate: &str) -> bool {
        if candidate == self.text {
            return true;
        }
        let Some(expected) = &self.loopback_without_port else {
            return false;
        };
        Url::parse(candidate)
            .ok()
            .filter(|url| url.scheme() == "http" && is_loopback_ip(url) && url.fragment().is_none())
            .is_some_and(|url| &without_port(&url) == expected)
    }
}

fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

fn without_port(url: &Url) -> String {
    let mut url = url.clone();
    // Only fails for URLs that cannot have a port; loopback http ones can.
    let _ = url.set_port(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(redirects: &[&str]) -> Client {
        Client::from_raw(
            RawClient {
                id: Some("wiki".into()),
                secret: Some("s".repeat(MIN_SECRET_LEN).into()),
                redirect_uris: Some(redirects.iter().map(|s| (*s).to_owned()).collect()),
                ..RawClient::default()
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let c = client(&["https://wiki.example.com/oauth/callback"]);
        assert!(c.allows_redirect("https://wiki.example.com/oauth/callback"));
        for other in [
            "https://wiki.example.com/oauth/callback/",
            "https://wiki.example.com/oauth/callback?x=1",
            "https://WIKI.example.com/oauth/callback",
            "https://wiki.example.com:443/oauth/callback",
            "https://wiki.example.com.evil.com/oauth/callback",
            "http://wiki.example.com/oauth/callback",
            "https://wiki.example.com/oauth/callback#x",
            "",
        ] {
            assert!(!c.allows_redirect(other), "{other}");
        }
    }

    #[test]
    fn loopback_redirects_take_any_port_and_nothing_else() {
        let c = client(&[
            "http://127.0.0.1/cb",
            "http://[::1]:8000/cb",
            "http://localhost:9000/cb",
        ]);
        assert!(c.allows_redirect("http://127.0.0.1:51234/cb"));
        assert!(c.allows_redirect("http://127.0.0.1/cb"));
        assert!(c.allows_redirect("http://[::1]:1/cb"));
        assert!(!c.allows_redirect("http://127.0.0.1:51234/other"));
        assert!(
            !c.allows_redirect("http://127.0.0.2:51234/cb"),
            "another address"
        );
        assert!(
            !c.allows_redirect("https://127.0.0.1:51234/cb"),
            "another scheme"
        );
        // `localhost` is a name, not a loopback literal: exact only (RFC 8252 §8.3).
        assert!(c.allows_redirect("http://localhost:9000/cb"));
        assert!(!c.allows_redirect("http://localhost:9001/cb"));
    }

    #[test]
    fn unsafe_redirect_uris_are_refused_at_start() {
        for (uri, says) in [
            ("http://wiki.example.com/cb", "plain http"),
            ("javascript:alert(1)", "scheme"),
            ("https://wiki.example.com/cb#frag", "fragment"),
            ("/relative", "absolute"),
            ("myapp:/cb", "reverse-domain"),
        ] {
            let err = RedirectUri::parse(uri).unwrap_err();
            assert!(err.contains(says), "{uri}: {err}");
        }
        assert!(RedirectUri::parse("com.example.app:/oauth2redirect").is_ok());
    }

    #[test]
    fn secrets_are_checked_and_short_ones_refused() {
        let c = client(&["https://a.example/cb"]);
        assert!(c.secret_is(&"s".repeat(MIN_SECRET_LEN)));
        assert!(!c.secret_is("s"));
        assert!(!c.secret_is(""));
        let short = Client::from_raw(
            RawClient {
                id: Some("x".into()),
                secret: Some("short".into()),
                redirect_uris: Some(vec!["https://a.example/cb".into()]),
                ..RawClient::default()
            },
            3,
        )
        .unwrap_err();
        assert_eq!(short.setting, "oidc.client[3].secret");
        assert!(format!("{short:?}").contains("openssl rand"), "{short:?}");
        assert!(
            !format!("{short}").contains("short\""),
            "the secret is not echoed"
        );
    }

    #[test]
    fn a_public_client_has_no_secret_to_match() {
        let public = Client::from_raw(
            RawClient {
                id: Some("app".into()),
                redirect_uris: Some(vec!["com.example.app:/cb".into()]),
                ..RawClient::default()
            },
            0,
        )
        .unwrap();
        assert!(!public.is_confidential());
        assert!(!public.secret_is(""));
        assert!(!format!("{public:?}").contains("secret_hash"));
    }
}
