//! Persistence: one trait, two implementations (SQLite for one process,
//! PostgreSQL for replicas). Backend differences stay in `store/sqlite.rs` and
//! `store/postgres.rs`; migrations live in `migrations/{sqlite,postgres}/`.
//!
//! Everything a sign-in needs across processes is here: sign-in attempts
//! (state and nonce, single use), issued native nonces (single use), pending
//! first-login names, spent identity tokens, users and their Apple identities
//! and tokens, sessions (refresh-token families), applied notification ids,
//! and the queue of account deletions waiting for Apple.
//!
//! Times are Unix seconds (`i64`). Secrets are never stored in the clear:
//! state, nonces, identity tokens and refresh tokens as SHA-256 hashes, Apple
//! refresh tokens as ciphertext (the server encrypts before calling the store).

mod observed;
mod outage;
mod postgres;
mod sign_in;
mod sqlite;
mod user_row;

use std::fmt;

use async_trait::async_trait;
use thiserror::Error;

pub(crate) use observed::Observed;
pub use observed::{StoreHealth, CALL_DEADLINE};
pub use outage::{Outage, OUTAGES};
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
    /// The database file could not be created or its permissions tightened.
    #[error("database file: {0}")]
    File(#[source] std::io::Error),
    /// The system's random generator failed, so no new id could be drawn.
    #[error("the system random generator failed")]
    Random,
    /// A call did not finish within [`CALL_DEADLINE`].
    #[error("the database did not answer within {} s", CALL_DEADLINE.as_secs())]
    Timeout,
    /// A sign-in kept losing the race to link its identity (PostgreSQL replicas).
    #[error("the sign-in conflicted with a concurrent one; try again")]
    Conflict,
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
    /// Email from the verified id_token, when present (never from the unsigned `user` JSON).
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
    /// `is_private_email`.
    pub is_private_email: bool,
    /// `real_user_status` (0, 1, 2), native sign-ins only.
    pub real_user_status: Option<i64>,
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
        }
    }
}

/// What [`Store::complete_sign_in`] did.
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

/// The store behind the service. Every method is one short transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates the schema.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers and takes a write (`/readyz`): one tiny
    /// transaction, so that a full disk or a read-only file system shows.
    async fn ping(&self) -> StoreResult<()>;

    /// Records a started sign-in.
    async fn put_login(&self, login: &NewLogin) -> StoreResult<()>;
    /// Takes a started sign-in by its state hash: at most once, and only before it expires.
    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>>;

    /// Records a server-issued native nonce (by its SHA-256), valid until `expires_at`.
    async fn put_nonce(&self, nonce_hash: &[u8], now: i64, expires_at: i64) -> StoreResult<()>;
    /// Takes an issued nonce: `true` at most once, and only before it expires.
    async fn take_nonce(&self, nonce_hash: &[u8], now: i64) -> StoreResult<bool>;

    /// Keeps the name of a first-login `user` JSON for the identity (team,
    /// sub) until a sign-in of that identity completes. The first name kept
    /// wins; a later one is ignored.
    async fn keep_pending_name(
        &self,
        team_id: &str,
        sub: &str,
        name: &Name,
        now: i64,
    ) -> StoreResult<()>;
    /// The pending name of an identity, if one is kept.
    async fn pending_name(&self, team_id: &str, sub: &str) -> StoreResult<Option<Name>>;
    /// Whether an identity token (by SHA-256) already completed a sign-in.
    async fn identity_token_spent(&self, token_hash: &[u8], now: i64) -> StoreResult<bool>;

    /// Records a completed sign-in in one transaction (see [`SignIn`]): the
    /// first sign-in of an identity (per team and sub) creates its user, a
    /// later one updates it. The email and its flags change only when the
    /// token carries an email; the name is written only where the account
    /// has none (from the sign-in's own `user` JSON, else the pending one,
    /// which is then forgotten). With `link_by_email`, a new identity with a
    /// verified, non-relay email joins the existing user that has that email.
    async fn complete_sign_in(&self, sign_in: &SignIn) -> StoreResult<SignInOutcome>;
    /// A user by id.
    async fn user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// The link of an Apple identity.
    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>>;
    /// Every Apple refresh token held for a user's identities (one per identity and client).
    async fn user_apple_tokens(&self, user_id: &str) -> StoreResult<Vec<AppleToken>>;

    /// Stores the first refresh token of a new session family.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// Spends a refresh token and stores its successor, atomically (see [`Rotation`]).
    async fn rotate_session(&self, rotate: &Rotate) -> StoreResult<Rotation>;
    /// The user, if the session family belongs to them, is not revoked and
    /// was created after `created_after` (its absolute lifetime).
    async fn session_user(
        &self,
        family_id: &str,
        user_id: &str,
        created_after: i64,
    ) -> StoreResult<Option<User>>;
    /// Ends one session family (logout).
    async fn end_session(&self, family_id: &str) -> StoreResult<()>;
    /// Ends every session of a user.
    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()>;

    /// Applies a notification and records its id in one transaction: `false`
    /// when that id was applied before (nothing changes). When the effect
    /// fails, the id is not recorded, so Apple's retry applies it.
    async fn apply_notification(&self, notification: &Notification) -> StoreResult<bool>;
    /// Erases a user with their links, tokens, sessions and pending jobs.
    async fn erase_user(&self, user_id: &str) -> StoreResult<()>;

    /// Queues the deletion of `user_id` whose revoke of `token` failed; ends the user's sessions.
    async fn enqueue_deletion(
        &self,
        user_id: &str,
        token: &AppleToken,
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
    /// A job done: erases the user with their last job.
    async fn finish_deletion(&self, job_id: i64) -> StoreResult<()>;
    /// How many deletions are waiting (for `/metrics`).
    async fn pending_deletions(&self) -> StoreResult<i64>;

    /// Told of each call that failed for an outage, so that the backend can
    /// stop reusing connections the outage may have spoiled (by default: nothing).
    fn note_outage(&self, _outage: Outage) {}
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

/// Where a `database_url` keeps its data, for messages: the SQLite file, or
/// the URL with its password masked.
pub fn place_of(database_url: &str) -> String {
    match database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    {
        Some(path) => path.split('?').next().unwrap_or(path).to_owned(),
        None => masked_url(database_url).to_string(),
    }
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

/// How long a pending first-login name is kept when no sign-in completes.
const PENDING_NAME_SECS: i64 = 365 * 86_400;
/// Spent identity tokens and notification ids are kept this long past their
/// `exp` (a verifier's clock-skew leeway), then purged.
const SPENT_TOKEN_LEEWAY_SECS: i64 = 300;

/// A refresh token's row, as rotation reads it.
#[derive(sqlx::FromRow)]
struct TokenRow {
    family_id: String,
    spent_at: Option<i64>,
    expires_at: i64,
    successor_hash: Option<Vec<u8>>,
    successor_ciphertext: Option<Vec<u8>>,
}

/// A deletion job's row, as both backends return it.
#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    user_id: String,
    team_id: String,
    sub: String,
    client_id: String,
    token_ciphertext: Vec<u8>,
    attempts: i64,
}

impl From<JobRow> for DeletionJob {
    fn from(row: JobRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            token: AppleToken {
                team_id: row.team_id,
                sub: row.sub,
                client_id: row.client_id,
                ciphertext: row.token_ciphertext,
            },
            attempts: row.attempts,
        }
    }
}

/// A session family's row, as rotation reads it.
#[derive(sqlx::FromRow)]
struct FamilyRow {
    user_id: String,
    revoked: bool,
    created_at: i64,
    client_id: String,
}

/// What a rotation must do, judged the same way by both backends.
enum Judged {
    /// Refuse: unknown, expired, revoked or past the absolute lifetime.
    Invalid,
    /// A spent token came back: revoke the family.
    Reused,
    /// Spent within the grace: answer with its successor, if that is still current.
    Repeat {
        successor_hash: Vec<u8>,
        successor_sealed: Vec<u8>,
    },
    /// Spend it; the successor expires then.
    Rotate { expires_at: i64 },
}

fn judge_rotation(rotate: &Rotate, token: &TokenRow, family: &FamilyRow) -> Judged {
    let limit = family.created_at.saturating_add(rotate.max_age_secs);
    let now = rotate.now;
    match token.spent_at {
        Some(spent_at) => {
            let in_grace = rotate.reuse_grace_secs > 0
                && now.saturating_sub(spent_at) <= rotate.reuse_grace_secs
                && !family.revoked
                && now < limit;
            match (&token.successor_hash, &token.successor_ciphertext) {
                (Some(hash), Some(sealed)) if in_grace => Judged::Repeat {
                    successor_hash: hash.clone(),
                    successor_sealed: sealed.clone(),
                },
                _ => Judged::Reused,
            }
        }
        None if family.revoked || token.expires_at <= now || now >= limit => Judged::Invalid,
        None => Judged::Rotate {
            expires_at: rotate.expires_at.min(limit),
        },
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
