//! The `[oidc]` section: the provider's issuer, signing keys and clients,
//! parsed once at start.

use super::clients::Client;
use super::signing::SigningKeys;
use crate::config::{check_web_url, ConfigError, RawOidc};
use crate::store::DatabaseUrl;

/// The provider, as configured.
#[derive(Debug)]
pub struct OidcSettings {
    /// Its issuer, without a trailing slash; its endpoints hang below it.
    pub(crate) issuer: String,
    clients: Vec<Client>,
    pub(crate) keys: SigningKeys,
}

impl OidcSettings {
    /// Parses `[oidc]`: `public_url` is the default issuer; a client id may
    /// not be `token_audience` (the audience of the service's own tokens).
    pub(crate) fn load(
        raw: RawOidc,
        public_url: &str,
        token_audience: &str,
        database_url: &DatabaseUrl,
    ) -> Result<Self, ConfigError> {
        let issuer = raw
            .issuer
            .filter(|i| !i.trim().is_empty())
            .unwrap_or_else(|| public_url.to_owned())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        check_web_url("oidc.issuer", &issuer)?;
        if issuer.contains(['?', '#']) {
            return Err(ConfigError::new(
                "oidc.issuer",
                "an issuer has no query or fragment (OpenID Connect Discovery §2)",
            ));
        }
        let clients = raw
            .client
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(n, raw)| Client::from_raw(raw, n))
            .collect::<Result<Vec<_>, _>>()?;
        if clients.is_empty() {
            return Err(ConfigError::new(
                "oidc.client",
                "[oidc] is set but registers no client: add an [[oidc.client]] with id and redirect_uris",
            ));
        }
        for (n, client) in clients.iter().enumerate() {
            if clients[..n].iter().any(|other| other.id == client.id) {
                return Err(ConfigError::new(
                    format!("oidc.client[{n}].id"),
                    format!("{:?} is registered twice", client.id),
                ));
            }
            if client.id == token_audience {
                return Err(ConfigError::new(
                    format!("oidc.client[{n}].id"),
                    "equals token_audience, the audience of the service's own access tokens: choose another id",
                ));
            }
        }
        let keys = SigningKeys::resolve(raw.signing_keys, database_url)?;
        Ok(Self {
            issuer,
            clients,
            keys,
        })
    }

    /// A registered client.
    pub(crate) fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// The URL of one of the provider's endpoints (`path` from the root).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// A provider for unit tests: a confidential client `confidential_id`
/// (secret `secret`, redirect `https://wiki.example.com/cb`) and a public one,
/// `app` (redirect `com.example.app:/cb`).
#[cfg(test)]
pub(crate) fn test_settings(confidential_id: &str, secret: &str) -> OidcSettings {
    use crate::config::RawOidcClient;
    OidcSettings::load(
        RawOidc {
            client: Some(vec![
                RawOidcClient {
                    id: Some(confidential_id.into()),
                    secret: Some(secret.into()),
                    redirect_uris: Some(vec!["https://wiki.example.com/cb".into()]),
                    ..RawOidcClient::default()
                },
                RawOidcClient {
                    id: Some("app".into()),
                    redirect_uris: Some(vec!["com.example.app:/cb".into()]),
                    ..RawOidcClient::default()
                },
            ]),
            ..RawOidc::default()
        },
        "https://login.example.com",
        "https://login.example.com",
        &DatabaseUrl::new("sqlite::memory:"),
    )
    .expect("test settings")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawOidcClient as RawClient;

    fn raw_client(id: &str) -> RawClient {
        RawClient {
            id: Some(id.into()),
            redirect_uris: Some(vec!["https://wiki.example.com/cb".into()]),
            ..RawClient::default()
        }
    }

    fn load(raw: RawOidc) -> Result<OidcSettings, ConfigError> {
        OidcSettings::load(
            raw,
            "https://login.example.com",
            "https://login.example.com",
            &DatabaseUrl::new("sqlite::memory:"),
        )
    }

    #[test]
    fn the_issuer_defaults_to_the_public_url() {
        let settings = load(RawOidc {
            client: Some(vec![raw_client("wiki")]),
            ..RawOidc::default()
        })
        .unwrap();
        assert_eq!(settings.issuer, "https://login.example.com");
        assert_eq!(
            settings.url("/oauth2/token"),
            "https://login.example.com/oauth2/token"
        );
        assert!(settings.client("wiki").is_some());
        assert!(settings.client("other").is_none());
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (RawOidc::default(), "oidc.client"),
            (
                RawOidc {
                    client: Some(vec![raw_client("a"), raw_client("a")]),
                    ..RawOidc::default()
                },
                "oidc.client[1].id",
            ),
            (
                RawOidc {
                    client: Some(vec![raw_client("https://login.example.com")]),
                    ..RawOidc::default()
                },
                "oidc.client[0].id",
            ),
            (
                RawOidc {
                    issuer: Some("http://login.example.com".into()),
                    client: Some(vec![raw_client("a")]),
                    ..RawOidc::default()
                },
                "oidc.issuer",
            ),
            (
                RawOidc {
                    issuer: Some("https://login.example.com/?x=1".into()),
                    client: Some(vec![raw_client("a")]),
                    ..RawOidc::default()
                },
                "oidc.issuer",
            ),
        ];
        for (raw, setting) in cases {
            assert_eq!(load(raw).unwrap_err().setting, setting);
        }
    }
}
