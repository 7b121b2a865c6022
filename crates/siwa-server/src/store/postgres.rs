//! The PostgreSQL store: one database shared by several `siwa serve` replicas.
//!
//! Replicas share nothing else, so every single-use or rotating operation is
//! atomic in the database, whichever process runs it:
//! - a sign-in attempt is taken by one `DELETE ... RETURNING` with its expiry
//!   in the `WHERE`;
//! - a refresh token is spent under its family's row lock; a concurrent second
//!   spender waits for that lock, then finds the token spent (reuse);
//! - deletion jobs are leased with `FOR UPDATE SKIP LOCKED`;
//! - the first sign-in of an identity inserts with `ON CONFLICT DO NOTHING`;
//!   the loser of a race retries as an update of the winner's user.
//!
//! Transactions run at READ COMMITTED (the default). Row locks are always
//! taken in one order, so that replicas cannot deadlock: notification ids and
//! spent identity tokens (each locked alone, first), deletion jobs, Apple
//! identities, pending names, users, Apple tokens, session families, refresh
//! tokens. (A sign-in locks the identity before its user; a rotation locks
//! the family before its token; erasing locks jobs, identities, then the
//! user, whose delete cascades. The
//! one exception, a sign-in joining a user by email, takes a KEY SHARE lock on
//! that user first, which conflicts only with erasing it, and erasing never
//! waits on a new identity.)
//!
//! A `search_path` given in the URL (`?options=-c search_path=NAME`) places
//! the tables in that schema.
//!
//! `session_user` (every authenticated request) is answered from a cache of
//! this replica's, kept true by the database's notifications (see
//! `postgres/session_cache.rs` and `postgres/listener.rs`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use super::schema::{Applied, Schema};
use super::sign_in::{self, Decided};
use super::user_row::{UserRow, USER_COLUMNS};
use super::{
    given, masked_url, AppleLink, AppleToken, DeletionJob, EventFilter, EventState,
    ExportedIdentity, Grant, JobRow, Login, Name, NewLogin, NewOidcCode, NewSession, Notification,
    OidcCode, OutboxEvent, Redemption, Relink, Rotate, Rotation, SignIn, SignInOutcome, Store,
    StoreResult, TransferProgress, User,
};

mod listener;
mod oidc;
mod outbox;
mod purge;
#[cfg(test)]
mod scratch;
mod sessions;
mod steps;
mod transfer;

use super::session_cache::{self, SessionCache};
use super::SessionCacheStats;
use listener::Cached;
use steps::Steps;

/// The PostgreSQL migrations built into this binary.
pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL with its password masked, for Debug.
    url: String,
    /// The cache of `session_user`, and its listener.
    sessions: Arc<Cached>,
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names. Does not migrate:
    /// call [`Store::migrate`], or use [`super::connect`], which does.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(database_url)?;
        // A ping before every use is a round trip to the server per query:
        // only a connection idle for a while (the server may have restarted
        // or a middlebox dropped it since) is checked first.
        let pool = PgPoolOptions::new()
            .max_connections(pool_size())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    use sqlx::Connection as _;
                    // A connection that lost its transaction mid-way (the
                    // server went away) is not handed out again.
                    if conn.is_in_transaction() {
                        return Ok(false);
                    }
                    if meta.idle_for >= PING_WHEN_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options.clone())
            .await?;
        let url = masked_url(database_url).to_string();
        let cache = SessionCache::new(
            session_cache::CAPACITY,
            session_cache::MAX_AGE,
            Arc::default(),
        );
        Ok(Self {
            pool,
            sessions: Arc::new(Cached::new(cache, options, url.clone())),
            url,
        })
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its connect options hold the password.
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("connections", &self.pool.size())
            .field("sessions", &self.sessions)
            .finish()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating: replicas starting
        // together migrate once.
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
        sqlx::query(
            "INSERT INTO readiness (id, checked_at) \
             VALUES (1, EXTRACT(EPOCH FROM now())::BIGINT) \
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn put_login(&self, login: &NewLogin) -> StoreResult<()> {
        // Opportunistic purge of expired attempts, a bounded batch at a time;
        // rows another replica is purging are skipped, not waited for.
        sqlx::query(purge::LOGINS)
            .bind(login.created_at)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO logins \
             (state_hash, nonce, browser_hash, return_to, created_at, expires_at, client_id, redirect_uri) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&login.state_hash)
        .bind(&login.nonce)
        .bind(&login.browser_hash)
        .bind(&login.return_to)
        .bind(login.created_at)
        .bind(login.expires_at)
        .bind(login.client_id.as_deref())
        .bind(login.redirect_uri.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>> {
        // One statement: a concurrent second DELETE waits for the first to
        // commit, then finds no row.
        let row = sqlx::query(
            "DELETE FROM logins WHERE state_hash = $1 AND expires_at > $2 \
             RETURNING nonce, browser_hash, return_to, client_id, redirect_uri",
        )
        .bind(state_hash)
        .bind(now)
        .fetch_optional(&self.pool)
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
        sqlx::query(purge::NATIVE_NONCES)
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO native_nonces (nonce_hash, expires_at) VALUES ($1, $2)")
            .bind(nonce_hash)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_nonce(&self, nonce_hash: &[u8], now: i64) -> StoreResult<bool> {
        let taken =
            sqlx::query("DELETE FROM native_nonces WHERE nonce_hash = $1 AND expires_at > $2")
                .bind(nonce_hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn keep_pending_name(
        &self,
        team_id: &str,
        sub: &str,
        name: &Name,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(purge::PENDING_NAMES)
            .bind(now - super::PENDING_NAME_SECS)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO pending_names (team_id, sub, first_name, last_name, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, sub) DO NOTHING",
        )
        .bind(team_id)
        .bind(sub)
        .bind(given(name.first_name.as_deref()))
        .bind(given(name.last_name.as_deref()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending_name(&self, team_id: &str, sub: &str) -> StoreResult<Option<Name>> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT first_name, last_name FROM pending_names WHERE team_id = $1 AND sub = $2",
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
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM spent_identity_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now - super::SPENT_TOKEN_LEEWAY_SECS)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn complete_sign_in(&self, sign_in: &SignIn) -> StoreResult<SignInOutcome> {
        // Opportunistic purges, bounded, outside the sign-in's transaction;
        // rows another replica is purging are skipped.
        sqlx::query(purge::SPENT_IDENTITY_TOKENS)
            .bind(sign_in.now - super::SPENT_TOKEN_LEEWAY_SECS)
            .execute(&self.pool)
            .await?;
        if let Some(session) = &sign_in.session {
            self.purge_sessions(session.created_at).await?;
        }
        for attempt in 1..=SIGN_IN_ATTEMPTS {
            // The last attempt links without ON CONFLICT, so that a conflict
            // that keeps coming back surfaces as the database's error.
            let mut tx = Steps {
                tx: self.pool.begin().await?,
                last: attempt == SIGN_IN_ATTEMPTS,
            };
            match sign_in::complete(&mut tx, sign_in).await? {
                Decided::Done(outcome) => {
                    if let SignInOutcome::SignedIn(user) = &outcome {
                        tx.tx.commit().await?;
                        self.forget_user(&user.id);
                    }
                    return Ok(outcome);
                }
                // Another replica linked this identity first: ours is rolled
                // back (dropped); the next attempt updates the winner's user.
                Decided::LostRace => {}
            }
        }
        Err(super::StoreError::Conflict)
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(UserRow::user).transpose()?)
    }

    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>> {
        let row: Option<(String, bool)> = sqlx::query_as(
            "SELECT user_id, revoked FROM apple_identities WHERE team_id = $1 AND sub = $2",
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
             WHERE i.user_id = $1 ORDER BY t.team_id, t.sub, t.client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(team_id, sub, client_id, ciphertext)| AppleToken {
                team_id,
                sub,
                client_id,
                ciphertext,
            })
            .collect())
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        self.open_session(session).await
    }

    async fn rotate_session(&self, rotate: &Rotate) -> StoreResult<Rotation> {
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
        sqlx::query(purge::SEEN_EVENTS)
            .bind(notification.now - super::SPENT_TOKEN_LEEWAY_SECS)
            .execute(&self.pool)
            .await?;
        let mut tx = self.pool.begin().await?;
        // A concurrent delivery of the same id waits on this row until we
        // commit (then finds it) or roll back (then applies it itself).
        let first = sqlx::query(
            "INSERT INTO seen_events (jti, received_at, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&notification.jti)
        .bind(notification.now)
        .bind(notification.expires_at)
        .execute(&mut *tx)
        .await?;
        if first.rows_affected() != 1 {
            return Ok(false);
        }
        outbox::apply_effect(&mut tx, notification).await?;
        tx.commit().await?;
        // Rare: this replica's cache is flushed rather than told whose.
        self.sessions.cache.flush();
        Ok(true)
    }

    async fn erase_user(&self, user_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        erase(&mut tx, user_id, now).await?;
        tx.commit().await?;
        self.forget_user(user_id);
        Ok(())
    }

    async fn enqueue_deletion(
        &self,
        user_id: &str,
        token: &AppleToken,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // One job per token: asking twice keeps one job, with the newest ciphertext.
        sqlx::query(
            "INSERT INTO deletion_jobs \
             (user_id, team_id, sub, client_id, token_ciphertext, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
             ON CONFLICT (user_id, team_id, sub, client_id) \
             DO UPDATE SET token_ciphertext = excluded.token_ciphertext",
        )
        .bind(user_id)
        .bind(&token.team_id)
        .bind(&token.sub)
        .bind(&token.client_id)
        .bind(&token.ciphertext)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE session_families SET revoked = TRUE WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_user(user_id);
        Ok(())
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
        // Rows another replica is leasing right now are skipped; rows it has
        // leased are no longer due (leasing pushes the next attempt past the
        // lease), so no job is handed out twice.
        let rows: Vec<JobRow> = sqlx::query_as(
            "UPDATE deletion_jobs SET leased_until = $1 + $3, next_attempt_at = $1 + $3 \
             WHERE id IN (SELECT id FROM deletion_jobs WHERE next_attempt_at <= $1 \
                          ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
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
            "UPDATE deletion_jobs SET attempts = attempts + 1, next_attempt_at = $2, \
             leased_until = NULL, last_error = $3 WHERE id = $1",
        )
        .bind(job_id)
        .bind(next_at)
        .bind(super::short_error(error))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_deletion(&self, job_id: i64, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<String> =
            sqlx::query_scalar("DELETE FROM deletion_jobs WHERE id = $1 RETURNING user_id")
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(user_id) = &user_id {
            // The user goes with their last job (another token's revoke may
            // still be waiting). Two replicas finishing a user's last two jobs
            // at once would each see the other's job: the user's row locks
            // serialize them, and the second one erases.
            lock_user(&mut tx, user_id).await?;
            let others: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM deletion_jobs WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if others == 0 {
                erase(&mut tx, user_id, now).await?;
            }
        }
        tx.commit().await?;
        if let Some(user_id) = &user_id {
            self.forget_user(user_id);
        }
        Ok(())
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
        let relink = self
            .relink_exported(transfer_sub, team_id, sub, relay_email)
            .await?;
        if let Relink::Relinked { user_id } = &relink {
            self.forget_user(user_id);
        }
        Ok(relink)
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

    fn session_cache(&self) -> Option<Arc<SessionCacheStats>> {
        Some(Arc::clone(self.sessions.cache.stats()))
    }
}

/// Deletes a user's pending jobs and the user (identities, tokens and sessions
/// cascade), taking row locks in the store's order.
/// Erases a user (and records `user.deleted`).
async fn erase(tx: &mut PgConnection, user_id: &str, now: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM deletion_jobs WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    lock_user(tx, user_id).await?;
    let erased = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    outbox::record_erasure(tx, user_id, erased.rows_affected() == 1, now).await
}

/// Locks a user's identities, then the user: the order sign-in takes them in.
async fn lock_user(tx: &mut PgConnection, user_id: &str) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM apple_identities WHERE user_id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The schema of a PostgreSQL database, read through one connection (see
/// [`super::inspect_schema`]).
pub(super) async fn inspect_schema(database_url: &str) -> StoreResult<Schema> {
    let options = PgConnectOptions::from_str(database_url)?;
    let mut conn = PgConnection::connect_with(&options).await?;
    let applied = applied(&mut conn).await;
    let _ = conn.close().await;
    Ok(Schema::compare(&MIGRATOR, applied?))
}

/// The rows of `_sqlx_migrations` (in the connection's search path); `None`
/// when the table does not exist.
async fn applied(conn: &mut PgConnection) -> StoreResult<Option<Vec<Applied>>> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *conn)
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

/// Four connections per core, at least 8: requests are short transactions
/// that mostly wait on the round trip to the server, so a request holds a
/// connection far longer than it holds a core (with 2 per core, a one-core
/// service queued `GET /me` on its 4 connections); several replicas share the
/// server's limit, hence the cap.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 4).unwrap_or(u32::MAX).clamp(8, 32)
}

/// The longest a request waits for a connection (the bound on answering 503
/// while the database is unavailable).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// A pooled connection idle this long is pinged before it is used.
const PING_WHEN_IDLE: Duration = Duration::from_secs(10);
/// Expired rows deleted per opportunistic purge.
const PURGE_BATCH: i64 = 100;
/// Sign-in transactions tried before a lost race is reported.
const SIGN_IN_ATTEMPTS: u32 = 3;
