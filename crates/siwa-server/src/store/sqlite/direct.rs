//! The refresh rotation as a direct request of the writer (see
//! `group_commit.rs`): rusqlite on the writer's own connection. Through
//! sqlx, every statement is a round trip to the connection's thread (two
//! wake-ups, more CPU than the statement): a rotation's five statements and
//! its savepoint cost most of a refresh's CPU.

use rusqlite::{Connection, OptionalExtension};

use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    judge_rotation, FamilyRow, Judged, Rotate, Rotation, StoreError, TokenRow, User,
};
use super::group_commit::Write;

/// What a direct rotation gives: the rotation, with the user of a rotated
/// session of the service's own; `None` for a reuse, which the sqlx path
/// handles (it revokes the family and records the event).
type Rotated = Option<(Rotation, Option<User>)>;

/// A rotation on the direct connection: the common outcomes (rotated,
/// refused, repeated within the grace).
pub(super) fn rotate(conn: &Connection, rotate: &Rotate) -> Result<Write<Rotated>, StoreError> {
    let token = conn
        .prepare_cached(
            "SELECT family_id, spent_at, expires_at, successor_hash, successor_ciphertext \
             FROM sessions WHERE token_hash = ?1",
        )
        .and_then(|mut statement| {
            statement
                .query_row([&rotate.old_hash], |row| {
                    Ok(TokenRow {
                        family_id: row.get(0)?,
                        spent_at: row.get(1)?,
                        expires_at: row.get(2)?,
                        successor_hash: row.get(3)?,
                        successor_ciphertext: row.get(4)?,
                    })
                })
                .optional()
        })
        .map_err(StoreError::Write)?;
    let Some(token) = token else {
        return Ok(Write::Discard(Some((Rotation::Invalid, None))));
    };
    let family = conn
        .prepare_cached(
            "SELECT user_id, revoked, created_at, client_id, oidc_client FROM session_families \
             WHERE family_id = ?1",
        )
        .and_then(|mut statement| {
            statement
                .query_row([&token.family_id], |row| {
                    Ok(FamilyRow {
                        user_id: row.get(0)?,
                        revoked: row.get(1)?,
                        created_at: row.get(2)?,
                        client_id: row.get(3)?,
                        oidc_client: row.get(4)?,
                    })
                })
                .optional()
        })
        .map_err(StoreError::Write)?;
    let Some(family) = family else {
        return Ok(Write::Discard(Some((Rotation::Invalid, None))));
    };
    match judge_rotation(rotate, &token, &family) {
        Judged::Invalid => Ok(Write::Discard(Some((Rotation::Invalid, None)))),
        Judged::Reused => Ok(Write::Discard(None)),
        Judged::Repeat {
            successor_hash,
            successor_sealed,
        } => {
            let successor: Option<(Option<i64>, i64)> = conn
                .prepare_cached("SELECT spent_at, expires_at FROM sessions WHERE token_hash = ?1")
                .and_then(|mut statement| {
                    statement
                        .query_row([&successor_hash], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(StoreError::Write)?;
            Ok(Write::Discard(match successor {
                Some((None, expires_at)) => Some((
                    Rotation::Repeated {
                        user_id: family.user_id,
                        family_id: token.family_id,
                        client_id: family.client_id,
                        successor_sealed,
                        expires_at,
                    },
                    None,
                )),
                // The successor was itself rotated already: a reuse after all.
                _ => None,
            }))
        }
        Judged::Rotate { expires_at } => {
            let spent = conn
                .prepare_cached(
                    "UPDATE sessions SET spent_at = ?2, successor_hash = ?3, successor_ciphertext = ?4 \
                     WHERE token_hash = ?1 AND spent_at IS NULL",
                )
                .and_then(|mut statement| {
                    statement.execute((
                        &rotate.old_hash,
                        rotate.now,
                        &rotate.new_hash,
                        rotate.successor_sealed.as_deref(),
                    ))
                })
                .map_err(StoreError::Write)?;
            if spent != 1 {
                // Cannot happen under the write lock; refuse rather than fork.
                return Ok(Write::Discard(Some((Rotation::Invalid, None))));
            }
            // The family is not written (its leaf and its expiry index's would
            // be two more random pages per rotation for the single writer to
            // log and checkpoint): the purge reads a family's expiry from its
            // tokens (see `purge_sessions`).
            conn.prepare_cached(
                "INSERT INTO sessions (token_hash, family_id, created_at, expires_at, spent_at) \
                 VALUES (?1, ?2, ?3, ?4, NULL)",
            )
            .and_then(|mut statement| {
                statement.execute((&rotate.new_hash, &token.family_id, rotate.now, expires_at))
            })
            .map_err(StoreError::Write)?;
            // The response's profile, read here where the pages are warm
            // (a session of the service's own; a grant's token needs none).
            let user = if family.oidc_client.is_none() {
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                    .and_then(|mut statement| {
                        statement
                            .query_row([&family.user_id], |row| row.user())
                            .optional()
                    })
                    .map_err(StoreError::Write)?
            } else {
                None
            };
            Ok(Write::Commit(Some((
                Rotation::Rotated {
                    user_id: family.user_id,
                    family_id: token.family_id,
                    client_id: family.client_id,
                    expires_at,
                },
                user,
            ))))
        }
    }
}
