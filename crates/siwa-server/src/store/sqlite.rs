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
//! Writes are serialized by SQLite. Every multi-statement transaction starts
//! with `BEGIN IMMEDIATE`, so it takes the write lock first (waiting up to the
//! busy timeout) and can never fail half-way when upgrading a read to a write.
//!
//! `sqlite::memory:` (tests) gives a private in-memory database held by a
//! single connection that lives as long as the store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    email_key, given, may_associate, new_user_id, AppleLink, AppleProfile, DeletionJob, Login,
    NewLogin, NewSession, Rotation, Store, StoreResult, User,
};

mod reader;

/// The SQLite implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The session check of every authenticated request (file databases).
    reader: Option<Arc<reader::Reader>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database a `sqlite:` URL names, e.g.
    /// `sqlite://siwa.db` or `sqlite::memory:`. Does not migrate: call
    /// [`Store::migrate`], or use [`super::connect`], which does.
    pub async fn connect(database_url: &str) -> StoreResult<Self> {
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full);
        let pool = if in_memory {
            // Each connection to `:memory:` would be its own database (or share
            // one through shared-cache locking, which ignores the busy
            // timeout): one connection, never closed while the store lives.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .test_before_acquire(false)
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
        Ok(Self { pool, reader })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(super::StoreError::Migrate)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn put_login(&self, login: &NewLogin) -> StoreResult<()> {
        // Opportunistic purge of expired attempts, a bounded batch at a time.
        sqlx::query(
            "DELETE FROM logins WHERE state_hash IN \
             (SELECT state_hash FROM logins WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(login.created_at)
        .bind(PURGE_BATCH)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO logins (state_hash, nonce, browser_hash, return_to, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&login.state_hash)
        .bind(&login.nonce)
        .bind(&login.browser_hash)
        .bind(&login.return_to)
        .bind(login.created_at)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_login(&self, state_hash: &[u8], now: i64) -> StoreResult<Option<Login>> {
        // One statement: whoever deletes the row has it; nobody else can.
        let row = sqlx::query(
            "DELETE FROM logins WHERE state_hash = ?1 AND expires_at > ?2 \
             RETURNING nonce, browser_hash, return_to",
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
            }),
            None => None,
        })
    }

    async fn sign_in(
        &self,
        profile: &AppleProfile,
        now: i64,
        link_by_email: bool,
    ) -> StoreResult<User> {
        let email = given(profile.email.as_deref());
        let mut tx = self.begin().await?;
        let linked: Option<String> = sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = 0, \
             client_id = CASE WHEN token_ciphertext IS NULL THEN ?3 ELSE client_id END \
             WHERE team_id = ?1 AND sub = ?2 RETURNING user_id",
        )
        .bind(&profile.team_id)
        .bind(&profile.sub)
        .bind(&profile.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let user = match linked {
            Some(user_id) => update_user(&mut tx, &user_id, profile, now).await?,
            None => {
                let existing: Option<String> = match email {
                    Some(email) if link_by_email && may_associate(profile, Some(email)) => {
                        sqlx::query_scalar(
                            "SELECT id FROM users WHERE email_key = ?1 AND email_verified = 1 \
                             AND is_private_email = 0 ORDER BY created_at, id LIMIT 1",
                        )
                        .bind(email_key(email))
                        .fetch_optional(&mut *tx)
                        .await?
                    }
                    _ => None,
                };
                // The identity first, then the user (the PostgreSQL store's
                // lock order; here the write lock, held since BEGIN IMMEDIATE,
                // already means nobody else can have linked this identity).
                let (user_id, new_user) = match existing {
                    Some(user_id) => (user_id, None),
                    None => {
                        let user = insert_user(&mut tx, profile, now).await?;
                        (user.id.clone(), Some(user))
                    }
                };
                sqlx::query(
                    "INSERT INTO apple_identities \
                     (team_id, sub, user_id, client_id, token_ciphertext, revoked, linked_at) \
                     VALUES (?1, ?2, ?3, ?4, NULL, 0, ?5)",
                )
                .bind(&profile.team_id)
                .bind(&profile.sub)
                .bind(&user_id)
                .bind(&profile.client_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                match new_user {
                    Some(user) => user,
                    None => update_user(&mut tx, &user_id, profile, now).await?,
                }
            }
        };
        tx.commit().await?;
        Ok(user)
    }

    async fn set_apple_token(
        &self,
        team_id: &str,
        sub: &str,
        client_id: &str,
        token_ciphertext: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE apple_identities SET client_id = ?3, token_ciphertext = ?4 \
             WHERE team_id = ?1 AND sub = ?2",
        )
        .bind(team_id)
        .bind(sub)
        .bind(client_id)
        .bind(token_ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM apple_identities WHERE team_id = ?1 AND sub = ?2"
        ))
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(link_from_row).transpose()?)
    }

    async fn user_links(&self, user_id: &str) -> StoreResult<Vec<AppleLink>> {
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM apple_identities WHERE user_id = ?1 \
             ORDER BY linked_at, team_id, sub"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(link_from_row).collect::<Result<_, _>>()?)
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        // Opportunistic purge of families whose newest token has expired
        // (their tokens go with them), a bounded batch at a time.
        sqlx::query(
            "DELETE FROM session_families WHERE family_id IN \
             (SELECT family_id FROM session_families WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(session.created_at)
        .bind(PURGE_BATCH)
        .execute(&self.pool)
        .await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO session_families (family_id, user_id, revoked, created_at, expires_at) \
             VALUES (?1, ?2, 0, ?3, ?4)",
        )
        .bind(&session.family_id)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
             VALUES (?1, ?2, ?3, ?4, NULL)",
        )
        .bind(&session.token_hash)
        .bind(&session.family_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: i64,
        expires_at: i64,
    ) -> StoreResult<Rotation> {
        let mut tx = self.begin().await?;
        // The write lock is held since BEGIN IMMEDIATE: the token cannot
        // change under us, and a concurrent rotation of it waits, then finds
        // it spent. The steps are the PostgreSQL store's.
        let family_id: Option<String> =
            sqlx::query_scalar("SELECT family_id FROM sessions WHERE token_hash = ?1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(family_id) = family_id else {
            return Ok(Rotation::Invalid);
        };
        let family: Option<(String, bool)> =
            sqlx::query_as("SELECT user_id, revoked FROM session_families WHERE family_id = ?1")
                .bind(&family_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((user_id, revoked)) = family else {
            return Ok(Rotation::Invalid);
        };
        let token: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT spent_at, expires_at FROM sessions WHERE token_hash = ?1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let rotation = match token {
            None => Rotation::Invalid,
            Some((Some(_spent_at), _)) => {
                sqlx::query("UPDATE session_families SET revoked = 1 WHERE family_id = ?1")
                    .bind(&family_id)
                    .execute(&mut *tx)
                    .await?;
                Rotation::Reused { family_id }
            }
            Some((None, token_expires_at)) if revoked || token_expires_at <= now => {
                Rotation::Invalid
            }
            Some((None, _)) => {
                let spent = sqlx::query(
                    "UPDATE sessions SET spent_at = ?2 WHERE token_hash = ?1 AND spent_at IS NULL",
                )
                .bind(old_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if spent.rows_affected() != 1 {
                    // Cannot happen under the write lock; refuse rather than fork.
                    return Ok(Rotation::Invalid);
                }
                sqlx::query(
                    "UPDATE session_families SET expires_at = MAX(expires_at, ?2) \
                     WHERE family_id = ?1",
                )
                .bind(&family_id)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
                     VALUES (?1, ?2, ?3, ?4, NULL)",
                )
                .bind(new_hash)
                .bind(&family_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                Rotation::Rotated { user_id, family_id }
            }
        };
        tx.commit().await?;
        Ok(rotation)
    }

    async fn session_user(&self, family_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        if let Some(reader) = &self.reader {
            match reader.session_user(family_id, user_id) {
                Ok(user) => return Ok(user),
                Err(reader::ReadError::Failed(e)) => return Err(super::StoreError::Read(e)),
                Err(reader::ReadError::Busy) => {}
            }
        }
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = ?2 AND EXISTS \
             (SELECT 1 FROM session_families \
              WHERE family_id = ?1 AND user_id = ?2 AND revoked = 0)"
        ))
        .bind(family_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn end_session(&self, family_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE session_families SET revoked = 1 WHERE family_id = ?1")
            .bind(family_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE session_families SET revoked = 1 WHERE user_id = ?1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn first_seen_event(&self, jti: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO seen_events (jti, received_at) VALUES (?1, ?2) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_email_forwarding(
        &self,
        team_id: &str,
        sub: &str,
        email: Option<&str>,
        enabled: bool,
    ) -> StoreResult<()> {
        let email = given(email);
        sqlx::query(
            "UPDATE users SET email_forwarding = ?3, \
             email = COALESCE(?4, email), email_key = COALESCE(?5, email_key) \
             WHERE id = (SELECT user_id FROM apple_identities WHERE team_id = ?1 AND sub = ?2)",
        )
        .bind(team_id)
        .bind(sub)
        .bind(enabled)
        .bind(email)
        .bind(email.map(email_key))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn revoke_apple_link(&self, team_id: &str, sub: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = 1, token_ciphertext = NULL \
             WHERE team_id = ?1 AND sub = ?2 RETURNING user_id",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(user_id) = user_id {
            sqlx::query("UPDATE session_families SET revoked = 1 WHERE user_id = ?1")
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn erase_user(&self, user_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        erase(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enqueue_deletion(
        &self,
        user_id: &str,
        client_id: &str,
        token_ciphertext: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // One job per user and client: asking twice keeps one job, with the
        // newest token.
        sqlx::query(
            "INSERT INTO deletion_jobs \
             (user_id, client_id, token_ciphertext, attempts, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, 0, ?4, ?4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET token_ciphertext = excluded.token_ciphertext",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(token_ciphertext)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE session_families SET revoked = 1 WHERE user_id = ?1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
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
        // One statement, so one write transaction: leasing pushes the next
        // attempt past the lease, and no other caller sees the job as due.
        let rows = sqlx::query(
            "UPDATE deletion_jobs SET leased_until = ?1 + ?3, next_attempt_at = ?1 + ?3 \
             WHERE id IN (SELECT id FROM deletion_jobs WHERE next_attempt_at <= ?1 \
                          ORDER BY next_attempt_at, id LIMIT ?2) \
             RETURNING id, user_id, client_id, token_ciphertext, attempts",
        )
        .bind(now)
        .bind(limit)
        .bind(lease_secs.max(0))
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = rows
            .iter()
            .map(|row| {
                Ok(DeletionJob {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    client_id: row.try_get("client_id")?,
                    token_ciphertext: row.try_get("token_ciphertext")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
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

    async fn finish_deletion(&self, job_id: i64) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let user_id: Option<String> =
            sqlx::query_scalar("DELETE FROM deletion_jobs WHERE id = ?1 RETURNING user_id")
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(user_id) = user_id {
            // The user goes with their last job (another client's revoke may
            // still be waiting).
            let others: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM deletion_jobs WHERE user_id = ?1")
                    .bind(&user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if others == 0 {
                erase(&mut tx, &user_id).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deletions(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deletion_jobs")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Updates a signed-in user: the login time always; the email (with its
/// flags), the real-user status and each name part only when given.
async fn update_user(
    tx: &mut Transaction<'static, Sqlite>,
    user_id: &str,
    profile: &AppleProfile,
    now: i64,
) -> StoreResult<User> {
    let email = given(profile.email.as_deref());
    let row = sqlx::query(&format!(
        "UPDATE users SET last_login_at = ?2, \
         email = COALESCE(?3, email), \
         email_key = COALESCE(?4, email_key), \
         email_verified = CASE WHEN ?3 IS NULL THEN email_verified ELSE ?5 END, \
         is_private_email = CASE WHEN ?3 IS NULL THEN is_private_email ELSE ?6 END, \
         first_name = COALESCE(?7, first_name), \
         last_name = COALESCE(?8, last_name), \
         real_user_status = COALESCE(?9, real_user_status) \
         WHERE id = ?1 RETURNING {USER_COLUMNS}"
    ))
    .bind(user_id)
    .bind(now)
    .bind(email)
    .bind(email.map(email_key))
    .bind(profile.email_verified)
    .bind(profile.is_private_email)
    .bind(given(profile.first_name.as_deref()))
    .bind(given(profile.last_name.as_deref()))
    .bind(profile.real_user_status)
    .fetch_one(&mut **tx)
    .await?;
    Ok(user_from_row(&row)?)
}

/// Creates a user from a first sign-in.
async fn insert_user(
    tx: &mut Transaction<'static, Sqlite>,
    profile: &AppleProfile,
    now: i64,
) -> StoreResult<User> {
    let email = given(profile.email.as_deref());
    let row = sqlx::query(&format!(
        "INSERT INTO users (id, email, email_key, email_verified, is_private_email, \
         email_forwarding, first_name, last_name, real_user_status, created_at, last_login_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?9) RETURNING {USER_COLUMNS}"
    ))
    .bind(new_user_id()?)
    .bind(email)
    .bind(email.map(email_key))
    .bind(email.is_some() && profile.email_verified)
    .bind(email.is_some() && profile.is_private_email)
    .bind(given(profile.first_name.as_deref()))
    .bind(given(profile.last_name.as_deref()))
    .bind(profile.real_user_status)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(user_from_row(&row)?)
}

/// Deletes a user's pending jobs and the user (links and sessions cascade).
async fn erase(tx: &mut Transaction<'static, Sqlite>, user_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM deletion_jobs WHERE user_id = ?1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM users WHERE id = ?1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn user_from_row(row: &SqliteRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        email_verified: row.try_get("email_verified")?,
        is_private_email: row.try_get("is_private_email")?,
        email_forwarding: row.try_get("email_forwarding")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        real_user_status: row.try_get("real_user_status")?,
        created_at: row.try_get("created_at")?,
        last_login_at: row.try_get("last_login_at")?,
    })
}

fn link_from_row(row: &SqliteRow) -> Result<AppleLink, sqlx::Error> {
    Ok(AppleLink {
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        token_ciphertext: row.try_get("token_ciphertext")?,
        revoked: row.try_get("revoked")?,
    })
}

/// A pool for a file database: WAL readers run in parallel, writers queue on
/// the busy timeout, so a few connections per core are plenty.
fn pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    u32::try_from(cores * 2).unwrap_or(u32::MAX).clamp(2, 16)
}

const USER_COLUMNS: &str = "id, email, email_verified, is_private_email, email_forwarding, \
                            first_name, last_name, real_user_status, created_at, last_login_at";
const LINK_COLUMNS: &str = "user_id, client_id, token_ciphertext, revoked";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Expired rows deleted per opportunistic purge.
const PURGE_BATCH: i64 = 100;
