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
//!
//! The files:
//! - `store.rs`: the [`Store`] trait, [`StoreError`], [`connect`], [`inspect_schema`];
//! - `records.rs`: the records the store takes and gives;
//! - `events.rs`: the account events of the webhooks' outbox; `outbox.rs`:
//!   the outbox's SQL and that of the daily check of Apple tokens, written
//!   once for both backends; `user_view.rs`: the user as others see it;
//! - `grants.rs`: the OpenID provider's codes and grants; `provider.rs`: their
//!   SQL and methods, written once for both backends; `team_transfer.rs`
//!   likewise for `siwa migrate`'s export and import;
//! - `sign_in.rs`: the sign-in decision, written once over each backend's steps;
//! - `rows.rs`: rows both backends read alike, and the rotation rules;
//! - `user_row.rs`: the user's columns and their one mapping;
//! - `sqlite.rs` and `postgres.rs`: each backend's dialect and locking, the
//!   trait's methods in one place; beside each, `steps.rs` (the sign-in
//!   steps), `sessions.rs` (session families and rotation), `transfer.rs`
//!   (a team transfer's export and import) and `oidc.rs` (the provider's codes
//!   and grants); SQLite's `connection.rs` (connections spoiled by a failed
//!   transaction or an I/O error) and `reader.rs` (the direct read path of `/me`);
//!   SQLite's `change_feed.rs` and PostgreSQL's `listener.rs`, which keep
//!   `session_cache.rs` (the per-process cache of `session_user`) true;
//! - `schema.rs`: [`Schema`], a database's schema against the built-in
//!   migrations (each backend reads its `_sqlx_migrations`);
//! - `outage.rs`: which failures mean the database is unavailable;
//! - `observed.rs`: the store as the service uses it, bounded, its outages
//!   logged once and counted.

mod events;
mod grants;
mod observed;
mod outage;
mod outbox;
mod postgres;
mod provider;
mod records;
mod rows;
mod schema;
mod session_cache;
mod sign_in;
mod sqlite;
mod team_transfer;
mod user_row;
mod user_view;

use std::fmt;

use async_trait::async_trait;
use thiserror::Error;

pub use events::{EventFilter, EventState, EventType, NewEvent, OutboxEvent};
pub use grants::{Grant, NewOidcCode, OidcCode, OidcGrant, Redemption};
pub(crate) use observed::Observed;
pub use observed::{StoreHealth, CALL_DEADLINE};
pub use outage::{Outage, OUTAGES};
pub use postgres::PostgresStore;
pub use records::{
    AppleLink, AppleProfile, AppleToken, DeletionJob, ExportedIdentity, Login, Name, NewLogin,
    NewSession, Notification, NotificationEffect, NotificationSource, Relink, Rotate, Rotation,
    SealedAppleToken, SessionStart, SignIn, SignInOutcome, SpentIdentityToken, TransferProgress,
    User,
};
use rows::{judge_rotation, FamilyRow, JobRow, Judged, TokenRow};
pub use schema::Schema;
pub use session_cache::SessionCacheStats;
pub use sqlite::{GroupCommitStats, SqliteStore};
pub use user_view::UserView;

/// A store failure. Never holds secrets or the database password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The SQLite group commit that held this write failed (the batch's
    /// transaction was lost or its commit failed), so the write did not happen.
    #[error("{0}")]
    Batch(#[source] std::sync::Arc<StoreError>),
    /// A write on the direct SQLite path failed.
    #[error("database error: {0}")]
    Write(#[source] rusqlite::Error),
    /// The SQLite writer could not take or run the write (a bug: logged).
    #[error("the database writer failed; the write did not happen")]
    WriterFailed,
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

/// The store behind the service. Every method is one short transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates or updates the schema.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers and takes a write (`/readyz`): one tiny
    /// transaction, so that a full disk or a read-only file system shows.
    async fn ping(&self) -> StoreResult<()>;
    /// How the schema compares with this binary's migrations (`/readyz?deep=1`); changes nothing.
    async fn schema(&self) -> StoreResult<Schema>;

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
    /// As [`Store::rotate_session`], with the session's user when the store
    /// reads it in the same step (a rotated session of the service's own is
    /// active by construction); `None`: read it with [`Store::session_user`].
    async fn rotate_session_with_user(
        &self,
        rotate: &Rotate,
    ) -> StoreResult<(Rotation, Option<User>)> {
        Ok((self.rotate_session(rotate).await?, None))
    }
    /// The user, if the session family is one of the service's own sessions
    /// (not a relying party's grant), belongs to them, is not revoked and was
    /// created after `created_after` (its absolute lifetime).
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
    /// Erases a user with their links, tokens, sessions and pending jobs
    /// (a `user.deleted` event goes to the outbox).
    async fn erase_user(&self, user_id: &str, now: i64) -> StoreResult<()>;

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
    async fn finish_deletion(&self, job_id: i64, now: i64) -> StoreResult<()>;
    /// How many deletions are waiting (for `/metrics`).
    async fn pending_deletions(&self) -> StoreResult<i64>;

    /// Identities of `team_id` not yet exported for `target`, by `sub` after
    /// `after`, at most `limit` (a team transfer's export, resumable).
    async fn identities_to_export(
        &self,
        team_id: &str,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// The export for `target`: identities of `team_id`, and how many are exported.
    async fn export_progress(&self, team_id: &str, target: &str) -> StoreResult<TransferProgress>;
    /// Keeps the transfer_sub Apple gave for (team, sub), asked for `target`.
    async fn set_transfer_sub(
        &self,
        team_id: &str,
        sub: &str,
        target: &str,
        transfer_sub: &str,
    ) -> StoreResult<()>;
    /// Identities exported for `target` and not relinked yet, by transfer_sub
    /// after `after`, at most `limit` (the import, resumable).
    async fn identities_to_import(
        &self,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ExportedIdentity>>;
    /// The import into `target`: identities exported for it, and how many are relinked.
    async fn import_progress(&self, target: &str) -> StoreResult<TransferProgress>;
    /// Relinks the identity exported with `transfer_sub` to (`team_id`,
    /// `sub`), in one transaction: its user stays, Apple tokens of the
    /// sending team are forgotten, and a private relay email of the
    /// receiving team (relay addresses are per team) replaces the user's.
    async fn relink_identity(
        &self,
        transfer_sub: &str,
        team_id: &str,
        sub: &str,
        relay_email: Option<&str>,
    ) -> StoreResult<Relink>;

    /// Keeps an authorization code of the OpenID provider (by hash), and
    /// purges codes long past their expiry.
    async fn put_oidc_code(&self, code: &NewOidcCode) -> StoreResult<()>;
    /// A kept authorization code.
    async fn oidc_code(&self, code_hash: &[u8]) -> StoreResult<Option<OidcCode>>;
    /// Redeems a code at most once, before its expiry, opening `grant` (a
    /// session family with [`NewSession::grant`] set) in the same
    /// transaction. A code used before opens nothing, and the grant its first
    /// use opened is revoked (RFC 6749 §4.1.2).
    async fn redeem_oidc_code(
        &self,
        code_hash: &[u8],
        now: i64,
        grant: &NewSession,
    ) -> StoreResult<Redemption>;
    /// Revokes the grant a used code opened (a second use seen on reading it).
    async fn spoil_oidc_code(&self, code_hash: &[u8]) -> StoreResult<()>;
    /// A session family, of either kind.
    async fn grant(&self, family_id: &str) -> StoreResult<Option<Grant>>;
    /// The family a refresh token (by hash) belongs to, of either kind.
    async fn grant_of_refresh_token(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>>;

    /// Leases up to `limit` due webhook events for `lease_secs`: the oldest
    /// pending event of each user (events of one user go out in order), and
    /// never one that another worker holds (replicas share the outbox).
    async fn lease_events(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// The endpoints (by URL) an event has reached.
    async fn delivered_endpoints(&self, seq: i64) -> StoreResult<Vec<String>>;
    /// Notes that an event reached an endpoint (a retry skips it).
    async fn mark_delivered_to(&self, seq: i64, endpoint: &str, now: i64) -> StoreResult<()>;
    /// Ends an event's delivery: delivered, or given up with the last error.
    async fn finish_event(
        &self,
        seq: i64,
        state: EventState,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// An event's attempt failed: try again at `next_at`.
    async fn retry_event(&self, seq: i64, next_at: i64, error: &str) -> StoreResult<()>;
    /// Events, newest first (`siwa webhooks list`).
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<OutboxEvent>>;
    /// One event by its `webhook-id`.
    async fn event(&self, event_id: &str) -> StoreResult<Option<OutboxEvent>>;
    /// Sends an event again to every endpoint, from `now` (`siwa webhooks
    /// retry`); `false` when no event has that id.
    async fn requeue_event(&self, event_id: &str, now: i64) -> StoreResult<bool>;
    /// Events waiting for delivery (for `/metrics`).
    async fn event_backlog(&self) -> StoreResult<i64>;
    /// Forgets a batch of events delivered or given up before `before`.
    async fn purge_events(&self, before: i64) -> StoreResult<()>;

    /// Takes up to `limit` Apple tokens due for their daily check (neither
    /// checked nor renewed since `due_before`), marking them checked at `now`
    /// so that no other worker takes them.
    async fn take_token_checks(
        &self,
        due_before: i64,
        limit: i64,
        now: i64,
    ) -> StoreResult<Vec<AppleToken>>;
    /// How many Apple tokens are stored, and how many are due (before `due_before`).
    async fn token_check_counts(&self, due_before: i64) -> StoreResult<(i64, i64)>;
    /// Sets when a token counts as last checked (a failed check comes back sooner).
    async fn reschedule_token_check(&self, token: &AppleToken, checked_at: i64) -> StoreResult<()>;

    /// Told of each call that failed for an outage, so that the backend can
    /// stop reusing connections the outage may have spoiled (by default: nothing).
    fn note_outage(&self, _outage: Outage) {}

    /// What the cache of [`Self::session_user`] did, for a store that keeps
    /// one (a file database or PostgreSQL; by default: none).
    fn session_cache(&self) -> Option<std::sync::Arc<SessionCacheStats>> {
        None
    }
}

/// A `database_url`: printed (Display, Debug) with its password masked.
#[derive(Clone, Eq, PartialEq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL (`sqlite://FILE`, `sqlite::memory:` or `postgres://...`).
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, password included: for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Where it keeps its data, for messages (see [`place_of`]).
    pub fn place(&self) -> String {
        place_of(&self.0)
    }

    /// The directory of a SQLite database file (`None`: in memory, or PostgreSQL).
    pub fn sqlite_dir(&self) -> Option<std::path::PathBuf> {
        let path = self
            .0
            .strip_prefix("sqlite://")
            .or_else(|| self.0.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        if path.contains(":memory:") {
            return None;
        }
        Some(
            std::path::Path::new(path)
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
        )
    }

    /// Whether it names a SQLite database (a file or in memory).
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl AsRef<str> for DatabaseUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        masked_url(&self.0).fmt(f)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", masked_url(&self.0))
    }
}

/// Opens the store a `database_url` names (`sqlite://FILE` or `postgres://...`) and migrates it.
pub async fn connect(database_url: impl AsRef<str>) -> StoreResult<Box<dyn Store>> {
    let database_url = database_url.as_ref();
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

/// The longest [`inspect_schema`] waits for the database.
pub const INSPECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads the schema of the database `database_url` names without migrating
/// it, creating it, or writing to it: a SQLite file is opened read-only (one
/// that does not exist yet is reported as such), PostgreSQL through one
/// connection. Bounded by [`INSPECT_DEADLINE`].
pub async fn inspect_schema(database_url: &str) -> StoreResult<Schema> {
    let read = async {
        if database_url.starts_with("sqlite:") {
            sqlite::inspect_schema(database_url).await
        } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
            postgres::inspect_schema(database_url).await
        } else {
            Err(StoreError::UnsupportedUrl(
                masked_url(database_url).to_string(),
            ))
        }
    };
    tokio::time::timeout(INSPECT_DEADLINE, read)
        .await
        .unwrap_or(Err(StoreError::Timeout))
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

/// How long a pending first-login name is kept when no sign-in completes.
const PENDING_NAME_SECS: i64 = 365 * 86_400;
/// Spent identity tokens and notification ids are kept this long past their
/// `exp` (a verifier's clock-skew leeway), then purged.
const SPENT_TOKEN_LEEWAY_SECS: i64 = 300;

/// 16 random bytes as 32 lowercase hex characters: a new user or event id.
fn random_id() -> StoreResult<String> {
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
