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
//! taken in one order, so that replicas cannot deadlock: deletion jobs, Apple
//! identities, users, session families, refresh tokens. (A sign-in locks the
//! identity before its user; a rotation locks the family before its token;
//! erasing locks jobs, identities, then the user, whose delete cascades. The
//! one exception, a sign-in joining a user by email, takes a KEY SHARE lock on
//! that user first, which conflicts only with erasing it, and erasing never
//! waits on a new identity.)
//!
//! A `search_path` given in the URL (`?options=-c search_path=NAME`) places
//! the tables in that schema.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use super::{
    email_key, given, masked_url, may_associate, new_user_id, AppleLink, AppleProfile, DeletionJob,
    Login, NewLogin, NewSession, Rotation, Store, StoreResult, User,
};

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The URL with its password masked, for Debug.
    url: String,
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
                    if meta.idle_for >= PING_WHEN_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            url: masked_url(database_url).to_string(),
        })
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its connect options hold the password.
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .field("connections", &self.pool.size())
            .finish()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // sqlx holds an advisory lock while migrating: replicas starting
        // together migrate once.
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(super::StoreError::Migrate)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn put_login(&self, login: &NewLogin) -> StoreResult<()> {
        // Opportunistic purge of expired attempts, a bounded batch at a time;
        // rows another replica is purging are skipped, not waited for.
        sqlx::query(
            "DELETE FROM logins WHERE state_hash IN \
             (SELECT state_hash FROM logins WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(login.created_at)
        .bind(PURGE_BATCH)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "INSERT INTO logins (state_hash, nonce, browser_hash, return_to, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        // One statement: a concurrent second DELETE waits for the first to
        // commit, then finds no row.
        let row = sqlx::query(
            "DELETE FROM logins WHERE state_hash = $1 AND expires_at > $2 \
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The last attempt inserts without ON CONFLICT, so that a conflict
            // that keeps coming back surfaces as the database's error.
            let last = attempt >= SIGN_IN_ATTEMPTS;
            if let Some(user) = self.try_sign_in(profile, now, link_by_email, last).await? {
                return Ok(user);
            }
        }
    }

    async fn set_apple_token(
        &self,
        team_id: &str,
        sub: &str,
        client_id: &str,
        token_ciphertext: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE apple_identities SET client_id = $3, token_ciphertext = $4 \
             WHERE team_id = $1 AND sub = $2",
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
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn apple_link(&self, team_id: &str, sub: &str) -> StoreResult<Option<AppleLink>> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM apple_identities WHERE team_id = $1 AND sub = $2"
        ))
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(link_from_row).transpose()?)
    }

    async fn user_links(&self, user_id: &str) -> StoreResult<Vec<AppleLink>> {
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM apple_identities WHERE user_id = $1 \
             ORDER BY linked_at, team_id, sub"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(link_from_row).collect::<Result<_, _>>()?)
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        // Opportunistic purge of families whose newest token has expired
        // (their tokens cascade), a bounded batch at a time.
        sqlx::query(
            "DELETE FROM session_families WHERE family_id IN \
             (SELECT family_id FROM session_families WHERE expires_at <= $1 LIMIT $2 \
              FOR UPDATE SKIP LOCKED)",
        )
        .bind(session.created_at)
        .bind(PURGE_BATCH)
        .execute(&self.pool)
        .await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO session_families (family_id, user_id, revoked, created_at, expires_at) \
             VALUES ($1, $2, FALSE, $3, $4)",
        )
        .bind(&session.family_id)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
             VALUES ($1, $2, $3, $4, NULL)",
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
        let mut tx = self.pool.begin().await?;
        let family_id: Option<String> =
            sqlx::query_scalar("SELECT family_id FROM sessions WHERE token_hash = $1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(family_id) = family_id else {
            return Ok(Rotation::Invalid);
        };
        // Every writer of a family's tokens locks the family first, so from
        // here the token cannot change under us: a concurrent rotation of the
        // same token waits here, then finds it spent.
        let family: Option<(String, bool)> = sqlx::query_as(
            "SELECT user_id, revoked FROM session_families WHERE family_id = $1 FOR UPDATE",
        )
        .bind(&family_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, revoked)) = family else {
            return Ok(Rotation::Invalid);
        };
        let token: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT spent_at, expires_at FROM sessions WHERE token_hash = $1")
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let rotation = match token {
            None => Rotation::Invalid,
            Some((Some(_spent_at), _)) => {
                sqlx::query("UPDATE session_families SET revoked = TRUE WHERE family_id = $1")
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
                    "UPDATE sessions SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL",
                )
                .bind(old_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if spent.rows_affected() != 1 {
                    // Cannot happen under the family lock; refuse rather than fork.
                    return Ok(Rotation::Invalid);
                }
                sqlx::query(
                    "UPDATE session_families SET expires_at = GREATEST(expires_at, $2) \
                     WHERE family_id = $1",
                )
                .bind(&family_id)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
                     VALUES ($1, $2, $3, $4, NULL)",
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
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $2 AND EXISTS \
             (SELECT 1 FROM session_families \
              WHERE family_id = $1 AND user_id = $2 AND NOT revoked)"
        ))
        .bind(family_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn end_session(&self, family_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE session_families SET revoked = TRUE WHERE family_id = $1")
            .bind(family_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_user_sessions(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE session_families SET revoked = TRUE WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn first_seen_event(&self, jti: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO seen_events (jti, received_at) VALUES ($1, $2) \
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
            "UPDATE users SET email_forwarding = $3, \
             email = COALESCE($4, email), email_key = COALESCE($5, email_key) \
             WHERE id = (SELECT user_id FROM apple_identities WHERE team_id = $1 AND sub = $2)",
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
        let mut tx = self.pool.begin().await?;
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = TRUE, token_ciphertext = NULL \
             WHERE team_id = $1 AND sub = $2 RETURNING user_id",
        )
        .bind(team_id)
        .bind(sub)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(user_id) = user_id {
            sqlx::query("UPDATE session_families SET revoked = TRUE WHERE user_id = $1")
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn erase_user(&self, user_id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        // One job per user and client: asking twice keeps one job, with the
        // newest token.
        sqlx::query(
            "INSERT INTO deletion_jobs \
             (user_id, client_id, token_ciphertext, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, 0, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET token_ciphertext = excluded.token_ciphertext",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(token_ciphertext)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE session_families SET revoked = TRUE WHERE user_id = $1")
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
        // Rows another replica is leasing right now are skipped; rows it has
        // leased are no longer due (leasing pushes the next attempt past the
        // lease), so no job is handed out twice.
        let rows = sqlx::query(
            "UPDATE deletion_jobs SET leased_until = $1 + $3, next_attempt_at = $1 + $3 \
             WHERE id IN (SELECT id FROM deletion_jobs WHERE next_attempt_at <= $1 \
                          ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
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

    async fn finish_deletion(&self, job_id: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let user_id: Option<String> =
            sqlx::query_scalar("DELETE FROM deletion_jobs WHERE id = $1 RETURNING user_id")
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(user_id) = user_id {
            // The user goes with their last job (another client's revoke may
            // still be waiting). Two replicas finishing a user's last two jobs
            // at once would each see the other's job: the user's row locks
            // serialize them, and the second one erases.
            lock_user(&mut tx, &user_id).await?;
            let others: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM deletion_jobs WHERE user_id = $1")
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

impl PostgresStore {
    /// One sign-in transaction. `None`: another replica linked this identity
    /// first (our transaction is rolled back); try again, as an update.
    async fn try_sign_in(
        &self,
        profile: &AppleProfile,
        now: i64,
        link_by_email: bool,
        last: bool,
    ) -> StoreResult<Option<User>> {
        let email = given(profile.email.as_deref());
        let mut tx = self.pool.begin().await?;
        let linked: Option<String> = sqlx::query_scalar(
            "UPDATE apple_identities SET revoked = FALSE, \
             client_id = CASE WHEN token_ciphertext IS NULL THEN $3 ELSE client_id END \
             WHERE team_id = $1 AND sub = $2 RETURNING user_id",
        )
        .bind(&profile.team_id)
        .bind(&profile.sub)
        .bind(&profile.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(user_id) = linked {
            let user = update_user(&mut tx, &user_id, profile, now).await?;
            tx.commit().await?;
            return Ok(Some(user));
        }
        let existing: Option<String> = match email {
            Some(email) if link_by_email && may_associate(profile, Some(email)) => {
                let key = email_key(email);
                // Two new identities with one email, on two replicas, must not
                // both create a user: the decision is serialized per email.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!("siwa-email:{key}"))
                    .execute(&mut *tx)
                    .await?;
                // KEY SHARE: the user cannot be erased before our link to it
                // is in (a sign-in's own update of it does not conflict).
                sqlx::query_scalar(
                    "SELECT id FROM users WHERE email_key = $1 AND email_verified \
                     AND NOT is_private_email ORDER BY created_at, id LIMIT 1 FOR KEY SHARE",
                )
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
            }
            _ => None,
        };
        // Lock order (see the module docs): the identity before the user. A
        // joined user is updated only once the identity is ours; a new user is
        // invisible to everyone else until we commit.
        let (user_id, new_user) = match existing {
            Some(user_id) => (user_id, None),
            None => {
                let user = insert_user(&mut tx, profile, now).await?;
                (user.id.clone(), Some(user))
            }
        };
        let insert = if last {
            "INSERT INTO apple_identities \
             (team_id, sub, user_id, client_id, token_ciphertext, revoked, linked_at) \
             VALUES ($1, $2, $3, $4, NULL, FALSE, $5)"
        } else {
            "INSERT INTO apple_identities \
             (team_id, sub, user_id, client_id, token_ciphertext, revoked, linked_at) \
             VALUES ($1, $2, $3, $4, NULL, FALSE, $5) ON CONFLICT (team_id, sub) DO NOTHING"
        };
        let inserted = sqlx::query(insert)
            .bind(&profile.team_id)
            .bind(&profile.sub)
            .bind(&user_id)
            .bind(&profile.client_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let user = match new_user {
            Some(user) => user,
            None => update_user(&mut tx, &user_id, profile, now).await?,
        };
        tx.commit().await?;
        Ok(Some(user))
    }
}

/// Updates a signed-in user: the login time always; the email (with its
/// flags), the real-user status and each name part only when given.
async fn update_user(
    tx: &mut Transaction<'static, Postgres>,
    user_id: &str,
    profile: &AppleProfile,
    now: i64,
) -> StoreResult<User> {
    let email = given(profile.email.as_deref());
    let row = sqlx::query(&format!(
        "UPDATE users SET last_login_at = $2, \
         email = COALESCE($3, email), \
         email_key = COALESCE($4, email_key), \
         email_verified = CASE WHEN $3::TEXT IS NULL THEN email_verified ELSE $5 END, \
         is_private_email = CASE WHEN $3::TEXT IS NULL THEN is_private_email ELSE $6 END, \
         first_name = COALESCE($7, first_name), \
         last_name = COALESCE($8, last_name), \
         real_user_status = COALESCE($9, real_user_status) \
         WHERE id = $1 RETURNING {USER_COLUMNS}"
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
    tx: &mut Transaction<'static, Postgres>,
    profile: &AppleProfile,
    now: i64,
) -> StoreResult<User> {
    let email = given(profile.email.as_deref());
    let row = sqlx::query(&format!(
        "INSERT INTO users (id, email, email_key, email_verified, is_private_email, \
         email_forwarding, first_name, last_name, real_user_status, created_at, last_login_at) \
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $9) RETURNING {USER_COLUMNS}"
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

/// Deletes a user's pending jobs and the user (links and sessions cascade),
/// taking row locks in the store's order.
async fn erase(tx: &mut Transaction<'static, Postgres>, user_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM deletion_jobs WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    lock_user(tx, user_id).await?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks a user's identities, then the user: the order sign-in takes them in.
async fn lock_user(tx: &mut Transaction<'static, Postgres>, user_id: &str) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM apple_identities WHERE user_id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
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

fn link_from_row(row: &PgRow) -> Result<AppleLink, sqlx::Error> {
    Ok(AppleLink {
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        token_ciphertext: row.try_get("token_ciphertext")?,
        revoked: row.try_get("revoked")?,
    })
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

const USER_COLUMNS: &str = "id, email, email_verified, is_private_email, email_forwarding, \
                            first_name, last_name, real_user_status, created_at, last_login_at";
const LINK_COLUMNS: &str = "user_id, client_id, token_ciphertext, revoked";
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A pooled connection idle this long is pinged before it is used.
const PING_WHEN_IDLE: Duration = Duration::from_secs(10);
/// Expired rows deleted per opportunistic purge.
const PURGE_BATCH: i64 = 100;
/// Sign-in transactions tried before a lost race is reported.
const SIGN_IN_ATTEMPTS: u32 = 3;
