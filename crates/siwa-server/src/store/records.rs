//! The records the store takes and gives: sign-in attempts, profiles,
//! sessions, rotations, notifications, deletion jobs. None holds a secret in
//! the clear (hashes and ciphertexts only), and none prints one in `Debug`.

use std::fmt;

use super::OidcGrant;

/// A sign-in started by `/auth/apple/login`, kept until the callback (10 minutes, single use).
#[derive(Clone)]
pub struct NewLogin {
    /// SHA-256 of the `state` sent to Apple (the lookup key).
    pub state_hash: Vec<u8>,
    /// The nonce sent to Apple (checked against the id_token).
    pub nonce: String,
    /// SHA-256 of the browser-binding cookie set when the sign-in started.
    pub browser_hash: Vec<u8>,
    /// Where to send the browser afterwards (already checked against the allowed origins).
    pub return_to: String,
    /// The Services ID it began with (`None`: the primary one).
    pub client_id: Option<String>,
    /// The redirect URI the code will be exchanged with, when not the
    /// client's callback (a popup page of Apple's JS).
    pub redirect_uri: Option<String>,
    /// When it was created.
    pub created_at: i64,
    /// When it stops being accepted.
    pub expires_at: i64,
}

/// A sign-in attempt taken back at the callback.
#[derive(Clone)]
pub struct Login {
    /// The nonce sent to Apple.
    pub nonce: String,
    /// SHA-256 of the browser-binding cookie.
    pub browser_hash: Vec<u8>,
    /// Where to send the browser afterwards.
    pub return_to: String,
    /// The Services ID it began with (`None`: the primary one).
    pub client_id: Option<String>,
    /// The redirect URI of a popup sign-in (`None`: the client's callback).
    pub redirect_uri: Option<String>,
}

/// What a verified Apple sign-in tells us about the user.
#[derive(Clone, Debug, Default)]
pub struct AppleProfile {
    /// The team whose `sub` this is (subs are per team).
    pub team_id: String,
    /// Apple's stable user id.
    pub sub: String,
    /// The client id (Services ID or bundle ID) the sign-in came through.
    pub client_id: String,
    /// Email from the verified id_token, when present (never from the unsigned `user` JSON).
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `is_private_email`.
    pub is_private_email: bool,
    /// `real_user_status` (0, 1, 2), native sign-ins only.
    pub real_user_status: Option<i64>,
    /// The `transfer_sub` of the token, during a team transfer: a sign-in of
    /// an unknown `sub` with it joins the identity exported with it.
    pub transfer_sub: Option<String>,
    /// The name of the first-login `user` JSON that came with this sign-in, if any.
    pub first_name: Option<String>,
    /// The family name of that `user` JSON.
    pub last_name: Option<String>,
}

/// A name from the first-login `user` JSON (unsigned: it never overwrites a stored name).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Name {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
}

/// An Apple refresh token to keep, encrypted, for one identity and client.
#[derive(Clone)]
pub struct SealedAppleToken {
    /// The client id the token was issued to.
    pub client_id: String,
    /// The token, encrypted and bound to (team, sub, client).
    pub ciphertext: Vec<u8>,
}

/// An identity token that completed a sign-in: remembered until it expires,
/// so that it opens no second session.
#[derive(Clone)]
pub struct SpentIdentityToken {
    /// SHA-256 of the compact token.
    pub hash: Vec<u8>,
    /// The token's `exp`: past it the token is refused anyway.
    pub expires_at: i64,
}

/// A completed sign-in, written in one transaction: the identity and its
/// user (created, joined by email, or updated), the pending first-login name
/// applied where the account has none, Apple's refresh token, the spent
/// identity token and the new session.
#[derive(Clone)]
pub struct SignIn {
    /// The verified identity.
    pub profile: AppleProfile,
    /// When.
    pub now: i64,
    /// Join a new identity to the user with the same verified, non-relay email.
    pub link_by_email: bool,
    /// Apple's refresh token from the code exchange.
    pub apple_token: Option<SealedAppleToken>,
    /// The identity token that completed it (refused if already spent).
    pub identity_token: Option<SpentIdentityToken>,
    /// The session to open for the signed-in user.
    pub session: Option<SessionStart>,
}

/// A session to open for a user not known yet (the one a sign-in finds or creates).
#[derive(Clone)]
pub struct SessionStart {
    /// The family (one per sign-in); access tokens carry it as `sid`.
    pub family_id: String,
    /// The client id the user signed in through.
    pub client_id: String,
    /// SHA-256 of the opaque refresh token.
    pub token_hash: Vec<u8>,
    /// Created: the session's absolute lifetime counts from here.
    pub created_at: i64,
    /// The refresh token's expiry.
    pub expires_at: i64,
}

impl SessionStart {
    /// The session of `user_id`.
    pub fn of(&self, user_id: &str) -> NewSession {
        NewSession {
            family_id: self.family_id.clone(),
            user_id: user_id.to_owned(),
            client_id: self.client_id.clone(),
            token_hash: self.token_hash.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            grant: None,
        }
    }
}

/// What [`Store::complete_sign_in`](super::Store::complete_sign_in) did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum SignInOutcome {
    /// Recorded: the signed-in user.
    SignedIn(User),
    /// The identity token already completed a sign-in: nothing was written.
    TokenAlreadySpent,
}

/// A user, as the API returns it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct User {
    /// Our id (random, opaque).
    pub id: String,
    /// The email Apple shared (maybe a private relay address).
    pub email: Option<String>,
    /// Apple says the email is verified.
    pub email_verified: bool,
    /// The email is a private relay address.
    pub is_private_email: bool,
    /// Whether Apple forwards mail to the relay address (email-disabled/-enabled events).
    pub email_forwarding: bool,
    /// Given name, from the first sign-in.
    pub first_name: Option<String>,
    /// Family name, from the first sign-in.
    pub last_name: Option<String>,
    /// Apple's real_user_status, when a native sign-in reported it.
    pub real_user_status: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Last sign-in.
    pub last_login_at: i64,
}

/// A user's link to an Apple identity.
#[derive(Clone, Debug)]
pub struct AppleLink {
    /// Our user.
    pub user_id: String,
    /// The user revoked consent (consent-revoked event), until their next sign-in.
    pub revoked: bool,
}

/// An Apple refresh token held for one of a user's identities.
#[derive(Clone)]
pub struct AppleToken {
    /// The identity's team.
    pub team_id: String,
    /// The identity's `sub`.
    pub sub: String,
    /// The client id the token was issued to.
    pub client_id: String,
    /// The encrypted token.
    pub ciphertext: Vec<u8>,
}

/// A new session: the first refresh token of a family.
#[derive(Clone)]
pub struct NewSession {
    /// The family (one per sign-in); access tokens carry it as `sid`.
    pub family_id: String,
    /// Whose session.
    pub user_id: String,
    /// The client id the user signed in through.
    pub client_id: String,
    /// SHA-256 of the opaque refresh token.
    pub token_hash: Vec<u8>,
    /// Created: the session's absolute lifetime counts from here.
    pub created_at: i64,
    /// The refresh token's expiry.
    pub expires_at: i64,
    /// For a relying party of the OpenID provider: which, with what (`None`:
    /// the service's own session).
    pub grant: Option<OidcGrant>,
}

/// A refresh token presented for rotation.
#[derive(Clone)]
pub struct Rotate {
    /// SHA-256 of the presented token.
    pub old_hash: Vec<u8>,
    /// SHA-256 of its successor.
    pub new_hash: Vec<u8>,
    /// The successor, encrypted (bound to `old_hash`), kept for the reuse
    /// grace so that a racing second use gets the same successor.
    pub successor_sealed: Option<Vec<u8>>,
    /// When.
    pub now: i64,
    /// The successor's expiry, before the session's absolute limit caps it.
    pub expires_at: i64,
    /// The session's absolute lifetime: a family created more than this long ago is over.
    pub max_age_secs: i64,
    /// How long after its use a spent token still gets its successor instead
    /// of revoking the family (0: never).
    pub reuse_grace_secs: i64,
    /// The relying party whose grant this must be (`None`: a session of the
    /// service's own). A token of the other kind is refused, nothing written.
    pub grant_client: Option<String>,
}

/// What rotating a refresh token did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Rotation {
    /// The old token is spent, the new one stored.
    Rotated {
        /// Whose session.
        user_id: String,
        /// The family.
        family_id: String,
        /// The client the session was opened through.
        client_id: String,
        /// The new token's expiry (capped by the session's absolute lifetime).
        expires_at: i64,
    },
    /// The token was spent moments ago (within the reuse grace) and its
    /// successor is still the family's current token: that successor again.
    Repeated {
        /// Whose session.
        user_id: String,
        /// The family.
        family_id: String,
        /// The client the session was opened through.
        client_id: String,
        /// The successor, as sealed at the first use.
        successor_sealed: Vec<u8>,
        /// The successor's expiry.
        expires_at: i64,
    },
    /// An already-rotated token came back: the family is now revoked (theft).
    Reused {
        /// The revoked family.
        family_id: String,
    },
    /// Unknown, expired, revoked, or past the session's absolute lifetime.
    Invalid,
}

/// What an Apple server-to-server notification does to the account.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum NotificationEffect {
    /// email-disabled / email-enabled: relay forwarding off or on (and the email, when sent).
    EmailForwarding {
        /// The relay address Apple sent, if any.
        email: Option<String>,
        /// Forwarding on.
        enabled: bool,
    },
    /// consent-revoked: the identity marked revoked, its Apple tokens
    /// forgotten, the user's sessions ended.
    ConsentRevoked,
    /// account-delete: the user of the identity erased.
    AccountDelete,
    /// A type this service does not act on: only recorded.
    Nothing,
}

/// A verified notification to apply once.
#[derive(Clone, Debug)]
pub struct Notification {
    /// Its `jti`: applied once per id.
    pub jti: String,
    /// Its `exp`: the id is remembered until then (a replay after it fails verification).
    pub expires_at: i64,
    /// The identity it is about.
    pub team_id: String,
    /// The identity's `sub`.
    pub sub: String,
    /// What it does.
    pub effect: NotificationEffect,
    /// When it was received.
    pub now: i64,
    /// Who told of it (carried into the webhook event).
    pub source: NotificationSource,
}

/// Who told of a notification's effect.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum NotificationSource {
    /// Apple's server-to-server notification.
    Apple,
    /// The daily check: Apple refused the stored refresh token (`invalid_grant`).
    DailyCheck,
}

impl NotificationSource {
    /// Its name in a webhook event's `data.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apple => "apple_notification",
            Self::DailyCheck => "daily_check",
        }
    }
}

/// An identity exported for a team transfer, waiting to be relinked to the
/// receiving team's `sub`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ExportedIdentity {
    /// The sending team.
    pub team_id: String,
    /// Its `sub` under the sending team.
    pub sub: String,
    /// What Apple gave the sending team for it.
    pub transfer_sub: String,
    /// Our user.
    pub user_id: String,
}

/// How far a team transfer has come, as the store knows it.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct TransferProgress {
    /// Identities concerned (export: of the sending team; import: exported for the receiving team).
    pub total: i64,
    /// Of them, those already done (exported; relinked).
    pub done: i64,
}

/// What relinking an exported identity did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Relink {
    /// The identity is now (receiving team, new sub), with its user, name,
    /// email and sessions as they were (done now, or before).
    Relinked {
        /// Our user.
        user_id: String,
    },
    /// No identity was exported with this transfer_sub.
    Unknown,
    /// The receiving team's sub already belongs to another user (who signed
    /// in under the receiving team without a transfer_sub): left as is.
    Taken {
        /// The user who holds it.
        user_id: String,
    },
}

/// An account deletion waiting for Apple's `/auth/revoke`.
#[derive(Clone)]
pub struct DeletionJob {
    /// The job.
    pub id: i64,
    /// Whose account.
    pub user_id: String,
    /// The token to revoke (and the identity it belongs to, for decryption).
    pub token: AppleToken,
    /// Attempts so far.
    pub attempts: i64,
}

impl fmt::Debug for NewLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewLogin")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AppleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleToken")
            .field("team_id", &self.team_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SealedAppleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedAppleToken")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SpentIdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpentIdentityToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("team_id", &self.profile.team_id)
            .field("client_id", &self.profile.client_id)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Rotate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotate")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SessionStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStart")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DeletionJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeletionJob")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("token", &self.token)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}
