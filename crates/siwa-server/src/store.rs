//! Persistence: one trait, two implementations (SQLite for one process,
//! PostgreSQL for replicas). Backend differences stay in `store/sqlite.rs` and
//! `store/postgres.rs`; migrations live in `migrations/{sqlite,postgres}/`.
//!
//! Everything a sign-in needs across processes is here: sign-in attempts
//! (state and nonce, single use), users and their Apple identities, sessions
//! (refresh-token families), seen notification events, and the queue of
//! account deletions waiting for Apple.
//!
//! Times are Unix seconds (`i64`). Secrets are never stored in the clear:
//! state and refresh tokens as SHA-256 hashes, Apple refresh tokens as
//! ciphertext (the server encrypts before calling the store).

mod postgres;
mod sqlite;

use std::fmt;

use async_trait::async_trait;
use thiserror::Error;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A store failure. Never holds secrets or the database password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A read on the direct SQLite path failed.
    #[error("database error: {0}")]
    Read(#[source] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The system's random generator failed, so no new id could be drawn.
    #[error("the system random generator failed")]
    Random,
    /// A URL scheme that is neither sqlite: nor postgres:.
    #[error("unsupported database_url {0}: use sqlite://FILE or postgres://...")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

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
    /// Email from the id_token, when present.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `is_private_email`.
    pub is_private_email: bool,
    /// `real_user_status` (0, 1, 2), native sign-ins only.
    pub real_user_status: Option<i64>,
    /// From the first-login `user` JSON only.
    pub first_name: Option<String>,
    /// From the first-login `user` JSON only.
    pub last_name: Option<String>,
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
#[derive(Clone)]
pub struct AppleLink {
    /// Our user.
    pub user_id: String,
    /// The client id the Apple refresh token belongs to.
    pub client_id: String,
    /// The encrypted Apple refresh token, if one is held.
    pub token_ciphertext: Option<Vec<u8>>,
    /// The user revoked consent (consent-revoked event).
    pub revoked: bool,
}

/// A new session: the first refresh token of a family.
#[derive(Clone)]
pub struct NewSession {
    /// The family (one per sign-in); access tokens carry it as `sid`.
    pub family_id: String,
    /// Whose session.
    pub user_id: String,
    /// SHA-256 of the opaque refresh token.
    pub token_hash: Vec<u8>,
    /// Created.
    pub created_at: i64,
    /// The refresh token's expiry.
    pub expires_at: i64,
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
    },
    /// An already-rotated token came back: the family is now revoked (theft).
    Reused {
        /// The revoked family.
        family_id: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// An account deletion waiting for Apple's `/auth/revoke`.
#[derive(Clone)]
pub struct DeletionJob {
    /// The job.
    pub id: i64,
    /// Whose account.
    pub user_id: String,
    /// The client id the token belongs to.
    pub client_id: String,
    /// The encrypted Apple refresh token to revoke.
    pub token_ciphertext: Vec<u8>,
    /// Attempts so far.
    pub attempts: i64,
}

/// The store behind the service. Every method is one short transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates the schema.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Records a started sign-in.
    async fn put_login(&self, login: &NewLogin) -> StoreResult<()>;
    /// Takes a started sign-in by its state hash: at most once, and only before it expires.
    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>>;

    /// Records a verified sign-in: creates the user and its Apple link on the
    /// first one (per team and sub), else updates them. A name or email given
    /// here is written at once; one not given never erases a stored one.
    /// With `link_by_email`, a new Apple identity with a verified, non-relay
    /// email joins the existing user that has that email.
    async fn sign_in(
        &self,
        profile: &AppleProfile,
        now: i64,
        link_by_email: bool,
    ) -> StoreResult<User>;
    /// Keeps the (encrypted) Apple refresh token of an identity.
    async fn set_apple_token(
        &self,
        team_id: &str,
        sub: &str,
        client_id: &str,
        token_ciphertext: &[u8],
    ) -> StoreResult<()>;
    /// A user by id.
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// The link of an Apple identity.
    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>>;
    /// The links of a user (one per team).
    async fn user_links(&self, user_id: &str) -> StoreResult<Vec<AppleLink>>;

    /// Stores the first refresh token of a new session family.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// Spends `old_hash` and stores `new_hash` in its family, atomically.
    async fn rotate_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> StoreResult<Rotation>;
    /// The user, if the session family is active and belongs to them.
    async fn session_user(&self, family_id: &str, user_id: &str) -> StoreResult<Option<User>>;
    /// Ends one session family (logout).
    async fn end_session(&self, family_id: &str) -> StoreResult<()>;
    /// Ends every session of a user.
    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()>;

    /// `true` the first time a notification id is seen.
    async fn first_seen_event(&self, jti: &str, now: i64) -> StoreResult<bool>;
    /// email-disabled / email-enabled: relay forwarding off or on (and the email, when sent).
    async fn set_email_forwarding(
        &self,
        team_id: &str,
        sub: &str,
        email: Option<&str>,
        enabled: bool,
    ) -> StoreResult<()>;
    /// consent-revoked: marks the link revoked, forgets the Apple token, ends the user's sessions.
    async fn revoke_apple_link(&self, team_id: &str, sub: &str) -> StoreResult<()>;
    /// Erases a user with their links, sessions and pending jobs.
    async fn erase_user(&self, user_id: &str) -> StoreResult<()>;

    /// Queues a deletion whose Apple revoke failed; ends the user's sessions.
    async fn enqueue_deletion(
        &self,
        user_id: &str,
        client_id: &str,
        token_ciphertext: &[u8],
        now: i64,
    ) -> StoreResult<()>;
    /// Jobs due at `now`, oldest first, at most `limit`; each is leased to the caller for `lease_secs`.
    async fn due_deletions(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<DeletionJob>>;
    /// A job whose revoke failed again: try at `next_at`.
    async fn retry_deletion(&self, job_id: i64, next_at: i64, error: &str) -> StoreResult<()>;
    /// A job done: erases the user and the job.
    async fn finish_deletion(&self, job_id: i64) -> StoreResult<()>;
    /// How many deletions are waiting (for `/metrics`).
    async fn pending_deletions(&self) -> StoreResult<i64>;
}

/// Opens the store a `database_url` names (`sqlite://FILE` or `postgres://...`) and migrates it.
pub async fn connect(database_url: &str) -> StoreResult<Box<dyn Store>> {
    let store: Box<dyn Store> = if database_url.starts_with("sqlite:") {
        Box::new(SqliteStore::connect(database_url).await?)
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Box::new(PostgresStore::connect(database_url).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(
            masked_url(database_url).to_string(),
        ));
    };
    store.migrate().await?;
    Ok(store)
}

/// A database URL whose password prints as `***` (in Display too).
pub struct MaskedUrl<'a>(&'a str);

/// Wraps a URL for printing without its password.
pub fn masked_url(url: &str) -> MaskedUrl<'_> {
    MaskedUrl(url)
}

impl fmt::Display for MaskedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str(url);
        };
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                if userinfo.contains(':') {
                    write!(f, "{scheme}://{user}:***@{host}{tail}")
                } else {
                    write!(f, "{scheme}://{user}@{host}{tail}")
                }
            }
            None => f.write_str(url),
        }
    }
}

impl fmt::Debug for MaskedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
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

impl fmt::Debug for AppleLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleLink")
            .field("user_id", &self.user_id)
            .field("client_id", &self.client_id)
            .field("revoked", &self.revoked)
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

impl fmt::Debug for DeletionJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeletionJob")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// 16 random bytes as 32 lowercase hex characters: a new user id.
fn new_user_id() -> StoreResult<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StoreError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A profile value the caller really gave: `None` and blank strings both mean
/// "not given", so neither ever erases a stored name or email.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// The email as compared for account association: trimmed and lower-cased
/// here, in Rust, so that both backends fold it the same way.
fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether a sign-in's email may join an existing account: verified, and not a
/// private relay address (by Apple's flag or by its domain).
fn may_associate(profile: &AppleProfile, email: Option<&str>) -> bool {
    email.is_some_and(|e| !email_key(e).ends_with("@privaterelay.appleid.com"))
        && profile.email_verified
        && !profile.is_private_email
}

/// A failure message as kept with a deletion job: at most 500 characters.
fn short_error(error: &str) -> &str {
    match error.char_indices().nth(500) {
        Some((end, _)) => error.get(..end).unwrap_or(error),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_masked() {
        assert_eq!(
            masked_url("postgres://app:s3cret@db:5432/siwa").to_string(),
            "postgres://app:***@db:5432/siwa"
        );
        assert_eq!(
            masked_url("postgres://app@db/siwa").to_string(),
            "postgres://app@db/siwa"
        );
        assert_eq!(
            masked_url("sqlite://siwa.db").to_string(),
            "sqlite://siwa.db"
        );
        assert_eq!(
            format!("{:?}", masked_url("postgres://a:p@h/d")),
            "postgres://a:***@h/d"
        );
    }
}
