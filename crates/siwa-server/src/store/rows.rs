//! Rows both backends read the same way, and the rotation rules judged once
//! from them (each backend keeps only its dialect and locking).

use super::{AppleToken, DeletionJob, Rotate};

/// A refresh token's row, as rotation reads it.
#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    pub(super) family_id: String,
    pub(super) spent_at: Option<i64>,
    pub(super) expires_at: i64,
    pub(super) successor_hash: Option<Vec<u8>>,
    pub(super) successor_ciphertext: Option<Vec<u8>>,
}

/// A deletion job's row, as both backends return it.
#[derive(sqlx::FromRow)]
pub(super) struct JobRow {
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
pub(super) struct FamilyRow {
    pub(super) user_id: String,
    pub(super) revoked: bool,
    pub(super) created_at: i64,
    pub(super) client_id: String,
}

/// What a rotation must do, judged the same way by both backends.
pub(super) enum Judged {
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

pub(super) fn judge_rotation(rotate: &Rotate, token: &TokenRow, family: &FamilyRow) -> Judged {
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
