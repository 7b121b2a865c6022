//! Rows both backends read the same way, and the rotation rules judged once
//! from them (each backend keeps only its dialect and locking).

use super::{AppleToken, DeletionJob, Grant, NewOidcCode, OidcCode, OidcGrant, Rotate};

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
    pub(super) oidc_client: Option<String>,
}

/// What a rotation must do, judged the same way by both backends.
pub(super) enum Judged {
    /// Refuse: unknown, expired, revoked, past the absolute lifetime, or of
    /// the other kind (a grant's token at the session route or the reverse).
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
    if family.oidc_client != rotate.grant_client {
        // Judged before anything is written: presenting a token at the wrong
        // endpoint neither spends it nor revokes its family.
        return Judged::Invalid;
    }
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

/// An authorization code's row, as both backends read it (columns: `provider::code_columns!`).
#[derive(sqlx::FromRow)]
pub(super) struct CodeRow {
    code_hash: Vec<u8>,
    client_id: String,
    redirect_uri: String,
    user_id: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl From<CodeRow> for OidcCode {
    fn from(row: CodeRow) -> Self {
        Self {
            code: NewOidcCode {
                code_hash: row.code_hash,
                client_id: row.client_id,
                redirect_uri: row.redirect_uri,
                user_id: row.user_id,
                scope: row.scope,
                nonce: row.nonce,
                code_challenge: row.code_challenge,
                auth_time: row.auth_time,
                created_at: row.created_at,
                expires_at: row.expires_at,
            },
            used: row.used_at.is_some(),
        }
    }
}

/// A session family's row, as [`Grant`] (columns: `provider::grant_columns!`).
#[derive(sqlx::FromRow)]
pub(super) struct GrantRow {
    family_id: String,
    user_id: String,
    created_at: i64,
    revoked: bool,
    oidc_client: Option<String>,
    scope: Option<String>,
    auth_time: Option<i64>,
}

impl From<GrantRow> for Grant {
    fn from(row: GrantRow) -> Self {
        let oidc = row.oidc_client.map(|client_id| OidcGrant {
            client_id,
            scope: row.scope.unwrap_or_default(),
            auth_time: row.auth_time.unwrap_or(row.created_at),
        });
        Self {
            family_id: row.family_id,
            user_id: row.user_id,
            created_at: row.created_at,
            revoked: row.revoked,
            oidc,
        }
    }
}

/// How long a code is kept past its expiry: a second use within this is
/// still recognised (and revokes its grant); after it, it is only unknown.
pub(super) const SPENT_CODE_KEPT_SECS: i64 = 3_600;
