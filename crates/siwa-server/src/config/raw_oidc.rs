//! `[oidc]` and its `[[oidc.client]]`s as written (parsed into
//! `oidc::settings::OidcSettings` by `Settings::load`).

use std::fmt;

use serde::Deserialize;

use crate::secrets::SecretSetting;

/// `[oidc]` as written.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    /// The issuer (`iss`) of the provider's tokens; default: `public_url`.
    pub issuer: Option<String>,
    /// RSA private keys (PKCS#8 PEM text or paths), newest first: the first
    /// signs ID tokens, all are published.
    pub signing_keys: Option<Vec<SecretSetting>>,
    /// The relying parties (`[[oidc.client]]`).
    pub client: Option<Vec<RawOidcClient>>,
}

impl fmt::Debug for RawOidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawOidc")
            .field("issuer", &self.issuer)
            .field(
                "signing_keys",
                &self
                    .signing_keys
                    .as_ref()
                    .map(|k| format!("[{} redacted]", k.len())),
            )
            .field("client", &self.client)
            .finish()
    }
}

/// A client as written in the configuration.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidcClient {
    /// The client id the relying party sends.
    pub id: Option<String>,
    /// Its secret; absent for a public client (a mobile or single-page app).
    pub secret: Option<SecretSetting>,
    /// Where codes may be sent, each exactly as the client sends it.
    pub redirect_uris: Option<Vec<String>>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `RS256` (default) or `ES256`.
    pub id_token_signed_response_alg: Option<String>,
}

impl fmt::Debug for RawOidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawOidcClient")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}
