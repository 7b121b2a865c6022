//! Session families on SQLite: opening one, rotating its refresh token
//! (the rules are `store::rows::judge_rotation`'s), reading and ending it.

use super::super::session_cache::Lookup;
use super::super::sign_in::SignInSteps;
use super::super::user_row::{UserRow, USER_COLUMN_COUNT};
use super::super::{FamilyRow, NewSession, Rotate, Rotation, StoreResult, TokenRow, User};
use super::group_commit::{Tx, Write};
use super::steps::Steps;
use super::{purge_sessions, reader, SqliteStore};
use sqlx::Row;

impl SqliteStore {
    pub(super) async fn open_session(&self, session: &NewSession) -> StoreResult<()> {
        let session = session.clone();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    purge_sessions(tx, session.created_at).await?;
                    Steps(&mut **tx).insert_session(&session).await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    /// The rotation, and the user when the direct path read it.
    pub(super) async fn rotate_token(
        &self,
        rotate: &Rotate,
    ) -> StoreResult<(Rotation, Option<User>)> {
        if self.writer.takes_direct() {
            // An unknown token costs the writer's thread one index lookup
            // (garbage is bounded by the refresh rate limits), less than a
            // read beforehand would cost every genuine refresh.
            let direct = rotate.clone();
            let rotation = self
                .writer
                .write_direct(move |conn| super::direct::rotate(conn, &direct))
                .await?;
            if let Some(rotated) = rotation {
                return Ok(rotated);
            }
            // A reuse: revoked, with its event, by the general path below.
        } else if !self.token_known(&rotate.old_hash).await? {
            // A token that is not ours is refused by a plain read, without
            // taking SQLite's write lock (garbage cannot queue the writers).
            return Ok((Rotation::Invalid, None));
        }
        let rotate = rotate.clone();
        let rotation = self
            .writer
            .write(move |tx| Box::pin(rotate_in(tx, rotate)))
            .await?;
        Ok((rotation, None))
    }

    /// Whether a refresh token of this hash was ever stored (the sqlx path
    /// only: file databases rotate directly).
    async fn token_known(&self, token_hash: &[u8]) -> StoreResult<bool> {
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM sessions WHERE token_hash = ?1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(known.is_some())
    }

    /// The user of an active session: from the cache when it holds the
    /// session (file databases), else from the database (then kept, unless
    /// the session changed meanwhile; see `store/session_cache.rs`).
    pub(super) async fn active_session_user(
        &self,
        family_id: &str,
        user_id: &str,
        created_after: i64,
    ) -> StoreResult<Option<User>> {
        let ticket = match &self.changes {
            Some(changes) => {
                changes.start();
                match changes.cache().lookup(family_id, user_id, created_after) {
                    Lookup::Hit(user) => return Ok(user),
                    Lookup::Miss(ticket) => ticket,
                }
            }
            None => None,
        };
        let Some((user, created_at)) = self.read_active_session(family_id, user_id).await? else {
            return Ok(None);
        };
        if let (Some(ticket), Some(changes)) = (ticket, &self.changes) {
            changes.cache().fill(ticket, family_id, &user, created_at);
        }
        Ok((created_at > created_after).then_some(user))
    }

    /// The user and the session's creation time, if the session is active:
    /// on the calling thread when the file allows, else through sqlx.
    async fn read_active_session(
        &self,
        family_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<(User, i64)>> {
        if let Some(reader) = &self.reader {
            match reader.active_session(family_id, user_id) {
                Ok(found) => return Ok(found),
                Err(reader::ReadError::Failed(e)) => return Err(super::super::StoreError::Read(e)),
                Err(reader::ReadError::Busy) => {}
            }
        }
        let row = sqlx::query(reader::SESSION_USER)
            .bind(family_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(created_at) = row.try_get::<Option<i64>, _>(USER_COLUMN_COUNT)? else {
            return Ok(None);
        };
        Ok(Some((row.user()?, created_at)))
    }

    pub(super) async fn end_family(&self, family_id: &str) -> StoreResult<()> {
        self.revoke_where("family_id", family_id).await
    }

    pub(super) async fn revoke_user_families(&self, user_id: &str) -> StoreResult<()> {
        self.revoke_where("user_id", user_id).await
    }

    /// Revokes the families whose `column` is `value` (`column` is ours, never input).
    async fn revoke_where(&self, column: &'static str, value: &str) -> StoreResult<()> {
        let value = value.to_owned();
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(&format!(
                        "UPDATE session_families SET revoked = 1 WHERE {column} = ?1"
                    ))
                    .bind(&value)
                    .execute(&mut **tx)
                    .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }
}

/// The rotation's statements, in the writer's transaction: the token cannot
/// change under them (one writer), and a concurrent rotation of the same
/// token runs after this one and finds it spent. The steps are the
/// PostgreSQL store's.
async fn rotate_in(tx: &mut Tx, rotate: Rotate) -> StoreResult<Write<Rotation>> {
    // The write lock is held since BEGIN IMMEDIATE: the token cannot
    // change under us, and a concurrent rotation of it waits, then finds
    // it spent. The steps are the PostgreSQL store's.
    let token: Option<TokenRow> = sqlx::query_as(
        "SELECT family_id, spent_at, expires_at, successor_hash, successor_ciphertext \
         FROM sessions WHERE token_hash = ?1",
    )
    .bind(&rotate.old_hash)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(token) = token else {
        return Ok(Write::Discard(Rotation::Invalid));
    };
    let family: Option<FamilyRow> = sqlx::query_as(
        "SELECT user_id, revoked, created_at, client_id, oidc_client FROM session_families \
         WHERE family_id = ?1",
    )
    .bind(&token.family_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(family) = family else {
        return Ok(Write::Discard(Rotation::Invalid));
    };
    let rotation = match super::super::judge_rotation(&rotate, &token, &family) {
        super::super::Judged::Invalid => Rotation::Invalid,
        super::super::Judged::Reused => {
            sqlx::query("UPDATE session_families SET revoked = 1 WHERE family_id = ?1")
                .bind(&token.family_id)
                .execute(&mut **tx)
                .await?;
            if !family.revoked {
                let (user_id, family_id) = (&family.user_id, &token.family_id);
                super::outbox::record_reuse(tx, user_id, family_id, rotate.now).await?;
            }
            Rotation::Reused {
                family_id: token.family_id,
            }
        }
        super::super::Judged::Repeat {
            successor_hash,
            successor_sealed,
        } => {
            let successor: Option<(Option<i64>, i64)> =
                sqlx::query_as("SELECT spent_at, expires_at FROM sessions WHERE token_hash = ?1")
                    .bind(&successor_hash)
                    .fetch_optional(&mut **tx)
                    .await?;
            match successor {
                Some((None, expires_at)) => Rotation::Repeated {
                    user_id: family.user_id,
                    family_id: token.family_id,
                    client_id: family.client_id,
                    successor_sealed,
                    expires_at,
                },
                // The successor was itself rotated already: a reuse after all.
                _ => {
                    sqlx::query("UPDATE session_families SET revoked = 1 WHERE family_id = ?1")
                        .bind(&token.family_id)
                        .execute(&mut **tx)
                        .await?;
                    if !family.revoked {
                        let (user_id, family_id) = (&family.user_id, &token.family_id);
                        super::outbox::record_reuse(tx, user_id, family_id, rotate.now).await?;
                    }
                    Rotation::Reused {
                        family_id: token.family_id,
                    }
                }
            }
        }
        super::super::Judged::Rotate { expires_at } => {
            let spent = sqlx::query(
                "UPDATE sessions SET spent_at = ?2, successor_hash = ?3, successor_ciphertext = ?4 \
                 WHERE token_hash = ?1 AND spent_at IS NULL",
            )
            .bind(&rotate.old_hash)
            .bind(rotate.now)
            .bind(&rotate.new_hash)
            .bind(rotate.successor_sealed.as_deref())
            .execute(&mut **tx)
            .await?;
            if spent.rows_affected() != 1 {
                // Cannot happen under the write lock; refuse rather than fork.
                return Ok(Write::Discard(Rotation::Invalid));
            }
            // The family is not written: the purge reads its expiry from its
            // tokens (see `purge_sessions`).
            sqlx::query(
                "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )
            .bind(&rotate.new_hash)
            .bind(&token.family_id)
            .bind(rotate.now)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
            Rotation::Rotated {
                user_id: family.user_id,
                family_id: token.family_id,
                client_id: family.client_id,
                expires_at,
            }
        }
    };
    Ok(match rotation {
        // Nothing was written.
        Rotation::Invalid | Rotation::Repeated { .. } => Write::Discard(rotation),
        _ => Write::Commit(rotation),
    })
}
