//! The OpenID provider's records: authorization codes, and grants (a
//! session family opened for a relying party, never mixed with the
//! service's own sessions).

use std::fmt;

/// What a session family opened for a relying party carries besides its tokens.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OidcGrant {
    /// The relying party's client id.
    pub client_id: String,
    /// The granted scope (space-separated).
    pub scope: String,
    /// When the user signed in with Apple (the ID token's `auth_time`).
    pub auth_time: i64,
}

/// A session family as the provider reads it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Grant {
    /// The family.
    pub family_id: String,
    /// Whose.
    pub user_id: String,
    /// Opened (its absolute lifetime counts from here).
    pub created_at: i64,
    /// Ended by logout, revocation, reuse or deletion.
    pub revoked: bool,
    /// For a relying party: which, with what; `None` for the service's own session.
    pub oidc: Option<OidcGrant>,
}

/// An authorization code to keep (by hash) until it is redeemed or expires.
#[derive(Clone)]
pub struct NewOidcCode {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The relying party it was issued to.
    pub client_id: String,
    /// The redirect URI of its request (the token request must repeat it).
    pub redirect_uri: String,
    /// The signed-in user.
    pub user_id: String,
    /// The granted scope.
    pub scope: String,
    /// The request's nonce, for the ID token.
    pub nonce: Option<String>,
    /// The request's PKCE challenge (S256).
    pub code_challenge: Option<String>,
    /// When the user signed in with Apple.
    pub auth_time: i64,
    /// Issued.
    pub created_at: i64,
    /// Valid until.
    pub expires_at: i64,
}

/// A kept authorization code.
#[derive(Clone)]
pub struct OidcCode {
    /// What was kept.
    pub code: NewOidcCode,
    /// Whether it was redeemed already.
    pub used: bool,
}

/// What redeeming a code did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Redemption {
    /// First use: the grant is open.
    Granted,
    /// It was used before (or is past its expiry): nothing opened, and the
    /// grant its first use opened is revoked.
    Refused,
}

impl fmt::Debug for NewOidcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOidcCode")
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OidcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcCode")
            .field("code", &self.code)
            .field("used", &self.used)
            .finish()
    }
}
