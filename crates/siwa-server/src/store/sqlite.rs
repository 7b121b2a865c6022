//! The SQLite store: one file, one process (`sqlite://siwa.db`, the default).
//!
//! Settings, on every connection:
//! - `journal_mode=WAL`: readers never wait for the writer.
//! - `synchronous=FULL`: every commit is fsynced before it is acknowledged.
//!   With WAL, `NORMAL` would already survive a killed process (a commit is in
//!   the WAL file, in the OS page cache, when `COMMIT` returns), but it can lose
//!   the last commits on power loss or an OS crash. The first-login `user` JSON
//!   (the name) comes from Apple once and must never be lost, so we pay one
//!   fsync per commit: about a millisecond, against a sign-in's round trips to
//!   Apple. (Issue 7 kills the process; FULL also covers pulling the plug.)
//! - `foreign_keys=ON`, `busy_timeout=5s`.
//!
//! The writes of the request paths (sign-in, refresh, logout, deletion,
//! notifications, logins and nonces) go through one writer task that commits
//! whatever has gathered in one transaction (`group_commit.rs`): one fsync
//! for many requests, each answered only once its commit is on disk. The
//! rest (background workers, `siwa migrate`, the provider's codes) take
//! SQLite's lock themselves. Every multi-statement transaction starts with
//! `BEGIN IMMEDIATE`, so it takes the write lock first (waiting up to the busy
//! timeout) and can never fail half-way when upgrading a read to a write.
//!
//! `sqlite::memory:` (tests) gives a private in-memory database held by a
//! single connection that lives as long as the store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, Sqlite, Transaction};

use super::schema::{Applied, Schema};
use super::sign_in::{self, Decided};
use super::user_row::{UserRow, USER_COLUMNS};
use super::{
    given, AppleLink, AppleToken, DeletionJob, EventFilter, EventState, ExportedIdentity, Grant,
    JobRow, Login, Name, NewLogin, NewOidcCode, NewSession, Notification, OidcCode, Outage,
    OutboxEvent, Redemption, Relink, Rotate, Rotation, SignIn, SignInOutcome, Store, StoreResult,
    TransferProgress, User,
};

mod change_feed;
mod connection;
mod direct;
mod group_commit;
mod oidc;
mod outbox;
mod reader;
mod sessions;
mod steps;
mod transfer;

use super::session_cache::{self, SessionCache};
use super::SessionCacheStats;
use change_feed::ChangeFeed;
use connection::{out_of_transaction, owner_only, SpoiledBefore};
pub use group_commit::GroupCommitStats;
use group_commit::{Tx, Write, Writer};
use steps::Steps;

/// The SQLite migrations built into this binary.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The session check of every authenticated request (file databases).
    reader: Option<Arc<reader::Reader>>,
    /// The session cache and what keeps it true (file databases).
    changes: Option<Arc<ChangeFeed>>,
    /// When a connection last failed for its file (read-only, I/O).
    spoiled: Arc<SpoiledBefore>,
    /// The one task that writes (see `group_commit`).
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database a `sqlite:` URL names, e.g.
    /// `sqlite://siwa.db` or `sqlite::memory:`. Does not migrate: call
    /// [`Store::migrate`], or use [`super::connect`], which does.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        Self::open(SqliteConnectOptions::from_str(database_url)?, in_memory).await
    }

    /// As [`Self::connect`], from options naming a database file (the store's
    /// own settings are laid over them: create if missing, foreign keys, busy
    /// timeout, `synchronous=FULL`, WAL). For `sqlite::memory:` use [`Self::connect`].
    pub async fn connect_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        Self::open(options, false).await
    }

    async fn open(options: SqliteConnectOptions, in_memory: bool) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);
        if !in_memory {
            owner_only(options.get_filename()).map_err(super::StoreError::File)?;
        }
        let spoiled = Arc::new(SpoiledBefore::new());
        let guard = Arc::clone(&spoiled);
        let pool = if in_memory {
            // Each connection to `:memory:` would be its own database (or share
            // one through shared-cache locking, which ignores the busy
            // timeout): one connection, never closed while the store lives.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .test_before_acquire(false)
                .before_acquire(|conn, _| Box::pin(out_of_transaction(conn)))
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?
        } else {
            // No ping before each use: a connection to a local file cannot
            // have been dropped by a peer, and the ping is a round trip to the
            // connection's worker thread that cost as much as the query.
            SqlitePoolOptions::new()
                .max_connections(pool_size())
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| {
                    let spoiled = guard.spoils(meta.age);
                    Box::pin(async move {
                        if spoiled {
                            return Ok(false);
                        }
                        out_of_transaction(conn).await
                    })
                })
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone().journal_mode(SqliteJournalMode::Wal))
                .await?
        };
        // Opened after the pool, which has created the file and set WAL mode.
        let reader = if in_memory {
            None
        } else {
            Some(Arc::new(
                reader::Reader::open(options.get_filename()).map_err(super::StoreError::Read)?,
            ))
        };
        let direct =
            (!in_memory).then(|| group_commit::DirectConn::new(options.get_filename().to_owned()));
        let changes = (!in_memory).then(|| {
            let cache = SessionCache::new(
                session_cache::CAPACITY,
                session_cache::MAX_AGE,
                Arc::default(),
            );
            Arc::new(ChangeFeed::new(options.get_filename(), Arc::new(cache)))
        });
        let after_commit = changes.clone().map(|changes| {
            let hook: group_commit::AfterCommit = Arc::new(move || changes.after_commit());
            hook
        });
        let writer = Writer::start(pool.clone(), group_commit_batch(), direct, after_commit);
        Ok(Self {
            pool,
            reader,
            changes,
            spoiled,
            writer,
        })
    }

    /// The group commit's counts: commits (fsyncs) and the requests they held.
    pub fn group_commit_stats(&self) -> Arc<GroupCommitStats> {
        Arc::clone(self.writer.stats())
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(super::StoreError::Migrate)
    }

    async fn schema(&self) -> StoreResult<Schema> {
        let mut conn = self.pool.acquire().await?;
        Ok(Schema::compare(&MIGRATOR, applied(&mut conn).await?))
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO readiness (id, checked_at) VALUES (1, unixepoch()) \
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_login(&self, login: &NewLogin) -> StoreResult<()> {
        let login = login.clone();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    // Opportunistic purge of expired attempts, a bounded batch at a time.
                    sqlx::query(
                        "DELETE FROM logins WHERE state_hash IN \
                         (SELECT state_hash FROM logins WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .bind(login.created_at)
                    .bind(PURGE_BATCH)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO logins \
                         (state_hash, nonce, browser_hash, return_to, created_at, expires_at, client_id, redirect_uri) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .bind(&login.state_hash)
                    .bind(&login.nonce)
                    .bind(&login.browser_hash)
                    .bind(&login.return_to)
                    .bind(login.created_at)
                    .bind(login.expires_at)
                    .bind(login.client_id.as_deref())
                    .bind(login.redirect_uri.as_deref())
                    .execute(&mut **tx)
                    .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>> {
        // One statement: whoever deletes the row has it; nobody else can.
        let state_hash = state_hash.to_vec();
        let row = self
            .writer
            .write(move |tx| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "DELETE FROM logins WHERE state_hash = ?1 AND expires_at > ?2 \
                         RETURNING nonce, browser_hash, return_to, client_id, redirect_uri",
                    )
                    .bind(state_hash)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await?;
                    Ok(Write::Commit(row))
                })
            })
            .await?;
        Ok(match row {
            Some(row) => Some(Login {
                nonce: row.try_get("nonce")?,
                browser_hash: row.try_get("browser_hash")?,
                return_to: row.try_get("return_to")?,
                client_id: row.try_get("client_id")?,
                redirect_uri: row.try_get("redirect_uri")?,
            }),
            None => None,
        })
    }

    async fn put_nonce(&self, nonce_hash: &[u8], now: i64, expires_at: i64) -> StoreResult<()> {
        let nonce_hash = nonce_hash.to_vec();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM native_nonces WHERE nonce_hash IN \
                         (SELECT nonce_hash FROM native_nonces WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .bind(now)
                    .bind(PURGE_BATCH)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO native_nonces (nonce_hash, expires_at) VALUES (?1, ?2)",
                    )
                    .bind(nonce_hash)
                    .bind(expires_at)
                    .execute(&mut **tx)
                    .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn take_nonce(&self, nonce_hash: &[u8], now: i64) -> StoreResult<bool> {
        let nonce_hash = nonce_hash.to_vec();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    let taken = sqlx::query(
                        "DELETE FROM native_nonces WHERE nonce_hash = ?1 AND expires_at > ?2",
                    )
                    .bind(nonce_hash)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    Ok(Write::Commit(taken.rows_affected() == 1))
                })
            })
            .await
    }

    async fn keep_pending_name(
        &self,
        team_id: &str,
        sub: &str,
        name: &Name,
        now: i64,
    ) -> StoreResult<()> {
        let (team_id, sub, name) = (team_id.to_owned(), sub.to_owned(), name.clone());
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM pending_names WHERE (team_id, sub) IN \
                         (SELECT team_id, sub FROM pending_names WHERE created_at <= ?1 LIMIT ?2)",
                    )
                    .bind(now - super::PENDING_NAME_SECS)
                    .bind(PURGE_BATCH)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO pending_names (team_id, sub, first_name, last_name, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (team_id, sub) DO NOTHING",
                    )
                    .bind(&team_id)
                    .bind(&sub)
                    .bind(given(name.first_name.as_deref()))
                    .bind(given(name.last_name.as_deref()))
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn pending_name(&self, team_id: &str, sub: &str) -> StoreResult<Option<Name>> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT first_name, last_name FROM pending_names WHERE team_id = ?1 AND sub = ?2",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(first_name, last_name)| Name {
            first_name,
            last_name,
        }))
    }

    async fn identity_token_spent(&self, token_hash: &[u8], now: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM spent_identity_tokens WHERE token_hash = ?1 AND expires_at > ?2",
        )
        .bind(token_hash)
        .bind(now - super::SPENT_TOKEN_LEEWAY_SECS)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn complete_sign_in(&self, sign_in: &SignIn) -> StoreResult<SignInOutcome> {
        let sign_in = sign_in.clone();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    // Opportunistic purges, bounded.
                    sqlx::query(
                        "DELETE FROM spent_identity_tokens WHERE token_hash IN \
                         (SELECT token_hash FROM spent_identity_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .bind(sign_in.now - super::SPENT_TOKEN_LEEWAY_SECS)
                    .bind(PURGE_BATCH)
                    .execute(&mut **tx)
                    .await?;
                    if let Some(session) = &sign_in.session {
                        purge_sessions(tx, session.created_at).await?;
                    }
                    // One writer: nobody else can link this identity
                    // meanwhile, so the decision never loses a race.
                    match sign_in::complete(&mut Steps(&mut **tx), &sign_in).await? {
                        Decided::Done(outcome @ SignInOutcome::SignedIn(_)) => {
                            Ok(Write::Commit(outcome))
                        }
                        Decided::Done(outcome) => Ok(Write::Discard(outcome)),
                        Decided::LostRace => Err(super::StoreError::Conflict),
                    }
                })
            })
            .await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(UserRow::user).transpose()?)
    }

    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "SELECT user_id, revoked FROM apple_identities WHERE team_id = ?1 AND sub = ?2",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(user_id, revoked)| AppleLink { user_id, revoked }))
    }

    async fn user_apple_tokens(&self, user_id: &str) -> StoreResult<Vec<AppleToken>> {
        let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT t.team_id, t.sub, t.client_id, t.token_ciphertext FROM apple_tokens t \
             JOIN apple_identities i ON i.team_id = t.team_id AND i.sub = t.sub \
             WHERE i.user_id = ?1 ORDER BY t.team_id, t.sub, t.client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(apple_token).collect())
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        self.open_session(session).await
    }

    async fn rotate_session(&self, rotate: &Rotate) -> StoreResult<Rotation> {
        Ok(self.rotate_token(rotate).await?.0)
    }

    async fn rotate_session_with_user(
        &self,
        rotate: &Rotate,
    ) -> StoreResult<(Rotation, Option<User>)> {
        self.rotate_token(rotate).await
    }

    async fn session_user(
        &self,
        family_id: &str,
        user_id: &str,
        created_after: i64,
    ) -> StoreResult<Option<User>> {
        self.active_session_user(family_id, user_id, created_after)
            .await
    }

    async fn end_session(&self, family_id: &str) -> StoreResult<()> {
        self.end_family(family_id).await
    }

    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        self.revoke_user_families(user_id).await
    }

    async fn apply_notification(&self, notification: &Notification) -> StoreResult<bool> {
        let notification = notification.clone();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM seen_events WHERE jti IN \
                         (SELECT jti FROM seen_events WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .bind(notification.now - super::SPENT_TOKEN_LEEWAY_SECS)
                    .bind(PURGE_BATCH)
                    .execute(&mut **tx)
                    .await?;
                    let first = sqlx::query(
                        "INSERT INTO seen_events (jti, received_at, expires_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (jti) DO NOTHING",
                    )
                    .bind(&notification.jti)
                    .bind(notification.now)
                    .bind(notification.expires_at)
                    .execute(&mut **tx)
                    .await?;
                    if first.rows_affected() != 1 {
                        return Ok(Write::Discard(false));
                    }
                    outbox::apply_effect(tx, &notification).await?;
                    Ok(Write::Commit(true))
                })
            })
            .await
    }

    async fn erase_user(&self, user_id: &str, now: i64) -> StoreResult<()> {
        let user_id = user_id.to_owned();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    erase(tx, &user_id, now).await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn enqueue_deletion(
        &self,
        user_id: &str,
        token: &AppleToken,
        now: i64,
    ) -> StoreResult<()> {
        let (user_id, token) = (user_id.to_owned(), token.clone());
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    // One job per token: asking twice keeps one job, with the newest ciphertext.
                    sqlx::query(
                        "INSERT INTO deletion_jobs \
                         (user_id, team_id, sub, client_id, token_ciphertext, attempts, next_attempt_at, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6) \
                         ON CONFLICT (user_id, team_id, sub, client_id) \
                         DO UPDATE SET token_ciphertext = excluded.token_ciphertext",
                    )
                    .bind(&user_id)
                    .bind(&token.team_id)
                    .bind(&token.sub)
                    .bind(&token.client_id)
                    .bind(&token.ciphertext)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query("UPDATE session_families SET revoked = 1 WHERE user_id = ?1")
                        .bind(&user_id)
                        .execute(&mut **tx)
                        .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn due_deletions(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<DeletionJob>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        // One statement, so one write transaction: leasing pushes the next
        // attempt past the lease, and no other caller sees the job as due.
        let rows: Vec<JobRow> = sqlx::query_as(
            "UPDATE deletion_jobs SET leased_until = ?1 + ?3, next_attempt_at = ?1 + ?3 \
             WHERE id IN (SELECT id FROM deletion_jobs WHERE next_attempt_at <= ?1 \
                          ORDER BY next_attempt_at, id LIMIT ?2) \
             RETURNING id, user_id, team_id, sub, client_id, token_ciphertext, attempts",
        )
        .bind(now)
        .bind(limit)
        .bind(lease_secs.max(0))
        .fetch_all(&self.pool)
        .await?;
        let mut jobs: Vec<DeletionJob> = rows.into_iter().map(DeletionJob::from).collect();
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    async fn retry_deletion(&self, job_id: i64, next_at: i64, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deletion_jobs SET attempts = attempts + 1, next_attempt_at = ?2, \
             leased_until = NULL, last_error = ?3 WHERE id = ?1",
        )
        .bind(job_id)
        .bind(next_at)
        .bind(super::short_error(error))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_deletion(&self, job_id: i64, now: i64) -> StoreResult<()> {
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    let user_id: Option<String> = sqlx::query_scalar(
                        "DELETE FROM deletion_jobs WHERE id = ?1 RETURNING user_id",
                    )
                    .bind(job_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some(user_id) = user_id {
                        // The user goes with their last job (another token's
                        // revoke may still be waiting).
                        let others: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM deletion_jobs WHERE user_id = ?1",
                        )
                        .bind(&user_id)
                        .fetch_one(&mut **tx)
                        .await?;
                        if others == 0 {
                            erase(tx, &user_id, now).await?;
                        }
                    }
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    async fn pending_deletions(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deletion_jobs")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn identities_to_export(
        &self,
        team_id: &str,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        self.export_batch(team_id, target, after, limit).await
    }

    async fn export_progress(&self, team_id: &str, target: &str) -> StoreResult<TransferProgress> {
        self.export_counts(team_id, target).await
    }

    async fn set_transfer_sub(
        &self,
        team_id: &str,
        sub: &str,
        target: &str,
        transfer_sub: &str,
    ) -> StoreResult<()> {
        self.keep_transfer_sub(team_id, sub, target, transfer_sub)
            .await
    }

    async fn identities_to_import(
        &self,
        target: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ExportedIdentity>> {
        self.import_batch(target, after, limit).await
    }

    async fn import_progress(&self, target: &str) -> StoreResult<TransferProgress> {
        self.import_counts(target).await
    }

    async fn relink_identity(
        &self,
        transfer_sub: &str,
        team_id: &str,
        sub: &str,
        relay_email: Option<&str>,
    ) -> StoreResult<Relink> {
        self.relink_exported(transfer_sub, team_id, sub, relay_email)
            .await
    }

    async fn put_oidc_code(&self, code: &NewOidcCode) -> StoreResult<()> {
        self.put_code(code).await
    }

    async fn oidc_code(&self, code_hash: &[u8]) -> StoreResult<Option<OidcCode>> {
        self.code(code_hash).await
    }

    async fn redeem_oidc_code(
        &self,
        code_hash: &[u8],
        now: i64,
        grant: &NewSession,
    ) -> StoreResult<Redemption> {
        self.redeem_code(code_hash, now, grant).await
    }

    async fn spoil_oidc_code(&self, code_hash: &[u8]) -> StoreResult<()> {
        self.spoil_code(code_hash).await
    }

    async fn grant(&self, family_id: &str) -> StoreResult<Option<Grant>> {
        self.grant_by_family(family_id).await
    }

    async fn grant_of_refresh_token(&self, token_hash: &[u8]) -> StoreResult<Option<Grant>> {
        self.grant_by_token(token_hash).await
    }

    async fn lease_events(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        self.lease_outbox(now, limit, lease_secs).await
    }

    async fn delivered_endpoints(&self, seq: i64) -> StoreResult<Vec<String>> {
        self.endpoints_reached(seq).await
    }

    async fn mark_delivered_to(&self, seq: i64, endpoint: &str, now: i64) -> StoreResult<()> {
        self.reached_endpoint(seq, endpoint, now).await
    }

    async fn finish_event(
        &self,
        seq: i64,
        state: EventState,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.finish_outbox_event(seq, state, now, error).await
    }

    async fn retry_event(&self, seq: i64, next_at: i64, error: &str) -> StoreResult<()> {
        self.retry_outbox_event(seq, next_at, error).await
    }

    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<OutboxEvent>> {
        self.list_outbox(filter).await
    }

    async fn event(&self, event_id: &str) -> StoreResult<Option<OutboxEvent>> {
        self.outbox_event(event_id).await
    }

    async fn requeue_event(&self, event_id: &str, now: i64) -> StoreResult<bool> {
        self.requeue_outbox_event(event_id, now).await
    }

    async fn event_backlog(&self) -> StoreResult<i64> {
        self.outbox_backlog().await
    }

    async fn purge_events(&self, before: i64) -> StoreResult<()> {
        self.purge_outbox(before).await
    }

    async fn take_token_checks(
        &self,
        due_before: i64,
        limit: i64,
        now: i64,
    ) -> StoreResult<Vec<AppleToken>> {
        self.take_due_token_checks(due_before, limit, now).await
    }

    async fn token_check_counts(&self, due_before: i64) -> StoreResult<(i64, i64)> {
        self.token_counts(due_before).await
    }

    async fn reschedule_token_check(&self, token: &AppleToken, checked_at: i64) -> StoreResult<()> {
        self.reschedule_check(token, checked_at).await
    }

    fn note_outage(&self, outage: Outage) {
        if matches!(outage, Outage::ReadOnly | Outage::Io) {
            self.spoiled.mark();
        }
    }

    fn session_cache(&self) -> Option<Arc<SessionCacheStats>> {
        self.changes
            .as_ref()
            .map(|changes| Arc::clone(changes.cache().stats()))
    }
}

/// Opportunistic purge of families whose tokens have all expired (their
/// tokens go with them), a bounded batch at a time.
///
/// A rotation does not write its family, so a family's `expires_at` is a
/// lower bound: the expiry of its first token, or of its newest one when a
/// purge last looked. The purge takes the oldest candidates, moves those with
/// a live token to their newest token's expiry (so they leave the candidates
/// until then: one write per family per token lifetime instead of one per
/// rotation), then deletes the candidates that have no live token left.
async fn purge_sessions(tx: &mut Tx, now: i64) -> StoreResult<()> {
    for sql in [CATCH_UP_LIVE_FAMILIES, PURGE_DEAD_FAMILIES] {
        sqlx::query(sql)
            .bind(now)
            .bind(PURGE_BATCH)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The batch of both statements below: the oldest candidate families
/// (`expires_at <= ?1`, at most `?2`).
macro_rules! family_candidates {
    () => {
        "family_id IN (SELECT family_id FROM session_families WHERE expires_at <= ?1 LIMIT ?2)"
    };
}

/// Whether a candidate has a token that lives past `?1`.
macro_rules! has_live_token {
    () => {
        "EXISTS (SELECT 1 FROM sessions s \
         WHERE s.family_id = session_families.family_id AND s.expires_at > ?1)"
    };
}

/// The candidates that still have a live token get their newest token's
/// expiry.
const CATCH_UP_LIVE_FAMILIES: &str = concat!(
    "UPDATE session_families SET expires_at = (SELECT MAX(s.expires_at) FROM sessions s \
     WHERE s.family_id = session_families.family_id) WHERE ",
    family_candidates!(),
    " AND ",
    has_live_token!()
);

/// The candidates without a live token are deleted; one with a live token
/// never is, caught up or not.
const PURGE_DEAD_FAMILIES: &str = concat!(
    "DELETE FROM session_families WHERE ",
    family_candidates!(),
    " AND NOT ",
    has_live_token!()
);

/// Deletes a user's pending jobs and the user (identities, tokens and sessions
/// cascade), and records `user.deleted`.
async fn erase(tx: &mut SqliteConnection, user_id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM deletion_jobs WHERE user_id = ?1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let erased = sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    outbox::record_erasure(tx, user_id, erased.rows_affected() == 1, now).await
}

fn apple_token(
    (team_id, sub, client_id, ciphertext): (String, String, String, Vec<u8>),
) -> AppleToken {
    AppleToken {
        team_id,
        sub,
        client_id,
        ciphertext,
    }
}

/// The schema of a SQLite database, opened read-only; a file that does not
/// exist yet is not created (see [`super::inspect_schema`]).
pub(super) async fn inspect_schema(database_url: &str) -> StoreResult<Schema> {
    let options = SqliteConnectOptions::from_str(database_url)?;
    if database_url.contains(":memory:") || !options.get_filename().exists() {
        return Ok(Schema::absent(&MIGRATOR));
    }
    let mut conn = SqliteConnection::connect_with(
        &options
            .read_only(true)
            .create_if_missing(false)
            .busy_timeout(BUSY_TIMEOUT),
    )
    .await?;
    let applied = applied(&mut conn).await;
    let _ = conn.close().await;
    Ok(Schema::compare(&MIGRATOR, applied?))
}

/// The rows of `_sqlx_migrations`; `None` when the table does not exist.
async fn applied(conn: &mut SqliteConnection) -> StoreResult<Option<Vec<Applied>>> {
    let table = sqlx::query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if table.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Applied {
                version: row.try_get("version")?,
                checksum: row.try_get("checksum")?,
                success: row.try_get("success")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map(Some)
        .map_err(Into::into)
}

/// A pool for a file database: WAL readers run in parallel, writers queue on
/// the busy timeout, so a few connections per core are plenty.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(u32::MAX).clamp(2, 16)
}

/// Requests per group commit: all that have gathered (up to the writer's
/// bound), or one each with `SIWA_SQLITE_GROUP_COMMIT=off` (a commit, so an
/// fsync, per request: for comparison in `bench/load.sh`).
fn group_commit_batch() -> usize {
    match std::env::var("SIWA_SQLITE_GROUP_COMMIT").as_deref() {
        Ok("off" | "0" | "false") => 1,
        _ => usize::MAX,
    }
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a request waits for a connection (the bound on answering 503
/// while the database is unavailable).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Expired rows deleted per opportunistic purge.
const PURGE_BATCH: i64 = 100;
