//! What Apple's token endpoint hands out, and the other secrets of a sign-in:
//! newtypes whose `Debug` prints `Name([redacted])`, with no `Display` and no
//! `PartialEq`, zeroized on drop.

use aws_lc_rs::constant_time::verify_slices_are_equal;

use crate::secret_string;

secret_string!(
    /// An access token from Apple's token endpoint (`a…` + hex + `.0.` + tag).
    /// Apple's REST API uses it for nothing but revocation.
    AccessToken,
    "**Secret**: whoever holds it can act for the user at Apple until it expires. Do not log it."
);

secret_string!(
    /// A refresh token, given once, on the code exchange. It does not expire
    /// by time; Apple revokes it when the user stops using Sign in with Apple
    /// with your app.
    RefreshToken,
    "**Secret**: whoever holds it, with your client_secret, gets fresh tokens for the user. Store it encrypted; do not log it."
);

secret_string!(
    /// An identity token (a JWT signed by Apple), not yet verified: pass it to
    /// [`crate::Verifier`] before trusting a claim.
    IdToken,
    "**Secret**: it proves the user's identity to whoever accepts it until it expires. Do not log it."
);

secret_string!(
    /// An authorization code from Apple's callback or a native app: single
    /// use, valid five minutes.
    AuthorizationCode,
    "**Secret** until used: whoever holds it first can exchange it for the user's tokens. Do not log it."
);

secret_string!(
    /// The `state` of an authorization request, echoed by Apple's callback: it
    /// binds the callback to the browser that started the sign-in. Compare it
    /// with [`State::matches`] (constant time).
    State,
    "**Secret** until the callback: whoever knows it can forge a callback for that sign-in (CSRF). Do not log it."
);

secret_string!(
    /// A `client_secret` JWT made elsewhere (another tool, a vault), sent to
    /// Apple as it is, unchecked. Prefer a [`crate::ClientSecret`] from
    /// [`crate::ClientSecretBuilder`], or a renewing [`crate::SecretCache`].
    ClientSecretText,
    "**Secret**: whoever holds it can act as your app at Apple until it expires. Do not log it."
);

impl State {
    /// Whether this state (from the callback) is `expected` (the one kept for
    /// the sign-in), compared in constant time.
    pub fn matches(&self, expected: &State) -> bool {
        verify_slices_are_equal(self.secret().as_bytes(), expected.secret().as_bytes()).is_ok()
    }
}

/// Apple's answer to a code exchange or a refresh.
///
/// `Debug` redacts the tokens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires (Apple says 3600).
    pub expires_in: u64,
    /// Given on the code exchange only; a refresh answers without one.
    pub refresh_token: Option<RefreshToken>,
    /// The identity token, to be verified with [`crate::Verifier`].
    pub id_token: IdToken,
}

/// Which kind of token `token_type_hint` says is revoked.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenTypeHint {
    /// The value Apple takes: `access_token` or `refresh_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// A token to revoke; its type gives Apple's `token_type_hint`.
///
/// `From` both token types, so `client.revoke(&refresh_token)` works.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum RevokeToken<'a> {
    /// An access token (`token_type_hint=access_token`).
    Access(&'a AccessToken),
    /// A refresh token (`token_type_hint=refresh_token`): ends the user's
    /// authorization of the app, as the user's Settings would.
    Refresh(&'a RefreshToken),
}

impl RevokeToken<'_> {
    /// The `token_type_hint` sent with it.
    pub fn hint(&self) -> TokenTypeHint {
        match self {
            Self::Access(_) => TokenTypeHint::AccessToken,
            Self::Refresh(_) => TokenTypeHint::RefreshToken,
        }
    }

    /// The token itself.
    ///
    /// **Secret**: do not log it.
    pub fn secret(&self) -> &str {
        match self {
            Self::Access(token) => token.secret(),
            Self::Refresh(token) => token.secret(),
        }
    }
}

impl<'a> From<&'a AccessToken> for RevokeToken<'a> {
    fn from(token: &'a AccessToken) -> Self {
        Self::Access(token)
    }
}

impl<'a> From<&'a RefreshToken> for RevokeToken<'a> {
    fn from(token: &'a RefreshToken) -> Self {
        Self::Refresh(token)
    }
}
