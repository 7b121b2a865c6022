//! Session families on PostgreSQL: opening one, rotating its refresh token
//! (the rules are `store::rows::judge_rotation`'s), reading it (through the
//! replica's cache) and ending it.

use sqlx::{Postgres, Row, Transaction};

use super::super::session_cache::Lookup;
use super::super::sign_in::SignInSteps;
use super::super::user_row::{UserRow, USER_COLUMNS, USER_COLUMN_COUNT};
use super::super::{FamilyRow, NewSession, Rotate, Rotation, StoreResult, TokenRow, User};
use super::steps::Steps;
use super::PostgresStore;

impl PostgresStore {
    pub(super) async fn open_session(&self, session: &NewSession) -> StoreResult<()> {
        self.purge_sessions(session.created_at).await?;
        let mut tx = Steps {
            tx: self.pool.begin().await?,
            last: true,
        };
        tx.insert_session(session).await?;
        tx.tx.commit().await?;
        Ok(())
    }

    pub(super) async fn rotate_token(&self, rotate: &Rotate) -> StoreResult<Rotation> {
        let mut tx = self.pool.begin().await?;
        // Every writer of a family's tokens locks the family first, so from
        // here the token cannot change under us: a concurrent rotation of the
        // same token waits here, then finds it spent. The token's family is
        // found and locked in one statement (a token never changes family);
        // the token is read in the next, whose snapshot is taken after the
        // lock, so it is read as the lock's last holder left it.
        let locked: Option<LockedFamily> = sqlx::query_as(
            "SELECT family_id, user_id, revoked, created_at, client_id, oidc_client \
             FROM session_families \
             WHERE family_id = (SELECT family_id FROM sessions WHERE token_hash = $1) FOR UPDATE",
        )
        .bind(&rotate.old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(LockedFamily { family_id, family }) = locked else {
            return Ok(Rotation::Invalid);
        };
        let user_id = family.user_id.clone();
        let token: Option<TokenRow> = sqlx::query_as(
            "SELECT family_id, spent_at, expires_at, successor_hash, successor_ciphertext \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(&rotate.old_hash)
        .fetch_optional(&mut *tx)
        .await?;
        // (Purged since the lock's statement, or, were a token ever to change
        // family, not under the lock held: refused either way.)
        let Some(token) = token.filter(|token| token.family_id == family_id) else {
            return Ok(Rotation::Invalid);
        };
        let rotation = match super::super::judge_rotation(rotate, &token, &family) {
            super::super::Judged::Invalid => Rotation::Invalid,
            super::super::Judged::Reused => {
                revoke_family(&mut tx, &family_id).await?;
                if !family.revoked {
                    super::outbox::record_reuse(&mut tx, &family.user_id, &family_id, rotate.now)
                        .await?;
                }
                Rotation::Reused { family_id }
            }
            super::super::Judged::Repeat {
                successor_hash,
                successor_sealed,
            } => {
                let successor: Option<(Option<i64>, i64)> = sqlx::query_as(
                    "SELECT spent_at, expires_at FROM sessions WHERE token_hash = $1",
                )
                .bind(&successor_hash)
                .fetch_optional(&mut *tx)
                .await?;
                match successor {
                    Some((None, expires_at)) => Rotation::Repeated {
                        user_id: family.user_id,
                        family_id,
                        client_id: family.client_id,
                        successor_sealed,
                        expires_at,
                    },
                    // The successor was itself rotated already: a reuse after all.
                    _ => {
                        revoke_family(&mut tx, &family_id).await?;
                        if !family.revoked {
                            let user_id = &family.user_id;
                            super::outbox::record_reuse(&mut tx, user_id, &family_id, rotate.now)
                                .await?;
                        }
                        Rotation::Reused { family_id }
                    }
                }
            }
            super::super::Judged::Rotate { expires_at } => {
                // One round trip for the two writes: the token spent and
                // the successor inserted, the second only if the first
                // happened (under the family's lock it always does; if not,
                // nothing is written and the transaction is dropped). The
                // family is locked, not written: the purge reads its expiry
                // from its tokens (see `purge.rs`).
                let spent: i64 = sqlx::query_scalar(ROTATE)
                    .bind(&rotate.old_hash)
                    .bind(rotate.now)
                    .bind(&rotate.new_hash)
                    .bind(rotate.successor_sealed.as_deref())
                    .bind(&family_id)
                    .bind(expires_at)
                    .fetch_one(&mut *tx)
                    .await?;
                if spent != 1 {
                    // Cannot happen under the family lock; refuse rather than fork.
                    return Ok(Rotation::Invalid);
                }
                Rotation::Rotated {
                    user_id: family.user_id,
                    family_id,
                    client_id: family.client_id,
                    expires_at,
                }
            }
        };
        tx.commit().await?;
        if matches!(rotation, Rotation::Reused { .. }) {
            self.forget_user(&user_id);
        }
        Ok(rotation)
    }

    /// The user of an active session: from this replica's cache when it
    /// holds the session, else from the database (then kept, unless the
    /// session changed meanwhile; see `session_cache.rs`).
    pub(super) async fn active_session_user(
        &self,
        family_id: &str,
        user_id: &str,
        created_after: i64,
    ) -> StoreResult<Option<User>> {
        self.sessions.start(&self.pool);
        let cache = &self.sessions.cache;
        let ticket = match cache.lookup(family_id, user_id, created_after) {
            Lookup::Hit(user) => return Ok(user),
            Lookup::Miss(ticket) => ticket,
        };
        // The session's created_at rather than a yes or no, so that a kept
        // session is judged against its absolute lifetime at each request.
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, (SELECT created_at FROM session_families \
              WHERE family_id = $1 AND user_id = $2 AND NOT revoked AND oidc_client IS NULL) \
             FROM users WHERE id = $2"
        ))
        .bind(family_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(created_at) = row.try_get::<Option<i64>, _>(USER_COLUMN_COUNT)? else {
            return Ok(None);
        };
        let user = row.user()?;
        if let Some(ticket) = ticket {
            cache.fill(ticket, family_id, &user, created_at);
        }
        Ok((created_at > created_after).then_some(user))
    }

    pub(super) async fn end_family(&self, family_id: &str) -> StoreResult<()> {
        let user_id: Option<String> = sqlx::query_scalar(
            "UPDATE session_families SET revoked = TRUE WHERE family_id = $1 RETURNING user_id",
        )
        .bind(family_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(user_id) = user_id {
            self.forget_user(&user_id);
        }
        Ok(())
    }

    pub(super) async fn revoke_user_families(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE session_families SET revoked = TRUE WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        self.forget_user(user_id);
        Ok(())
    }

    /// Drops a user this replica just changed from its own cache at once
    /// (the notification would do it too, a moment later): a replica reads
    /// its own writes.
    pub(super) fn forget_user(&self, user_id: &str) {
        self.sessions.cache.invalidate_user(user_id);
    }

    /// Opportunistic purge of families whose tokens have all expired (their
    /// tokens cascade), a bounded batch at a time: the live candidates are
    /// caught up first (see `purge.rs`).
    pub(super) async fn purge_sessions(&self, now: i64) -> StoreResult<()> {
        for sql in [
            super::purge::CATCH_UP_LIVE_FAMILIES,
            super::purge::SESSION_FAMILIES,
        ] {
            sqlx::query(sql).bind(now).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// A family locked for a rotation: its id, and the row rotation judges.
#[derive(sqlx::FromRow)]
struct LockedFamily {
    family_id: String,
    #[sqlx(flatten)]
    family: FamilyRow,
}

/// A rotation's writes in one statement: `$1` the spent token, `$2` now,
/// `$3` and `$4` its successor's hash and sealed copy, `$5` the family, `$6`
/// the new expiry. Returns how many tokens were spent (0 or 1).
const ROTATE: &str = "WITH spent AS ( \
       UPDATE sessions SET spent_at = $2, successor_hash = $3, successor_ciphertext = $4 \
       WHERE token_hash = $1 AND spent_at IS NULL RETURNING 1), \
     successor AS ( \
       INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
       SELECT $3, $5, $2, $6, NULL WHERE EXISTS (SELECT 1 FROM spent)) \
     SELECT COUNT(*) FROM spent";

async fn revoke_family(
    tx: &mut Transaction<'static, Postgres>,
    family_id: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE session_families SET revoked = TRUE WHERE family_id = $1")
        .bind(family_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
