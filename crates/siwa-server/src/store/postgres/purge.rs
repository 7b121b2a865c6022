//! The opportunistic purges of expired rows: each write that adds a row to a
//! table that only grows (an attempt, a nonce, a spent token, a session
//! family) first deletes a batch of at most 100 of that table's expired
//! rows, `$1` the cut-off, skipping rows another replica is purging.
//!
//! sqlx prepares every statement, and after a few runs PostgreSQL may keep
//! one generic plan for any parameters. For such a plan, a `$1` cut-off
//! matches a third of the table and a `LIMIT $2` a tenth of it: the batch
//! was chosen by scanning the whole table, and the rows to delete found by
//! scanning it again (a hash join). On a table of a million live session
//! families, every sign-in read the table twice and deleted nothing. So each
//! batch is chosen `ORDER BY` the indexed time column (the scan starts at the
//! oldest row and stops at the first one not expired) with the batch size
//! written in the statement, and its keys are handed to the `DELETE` as one
//! array (`= ANY(ARRAY(...))`: looked up in the primary key whatever the
//! planner guesses about a join). `purge/tests.rs` checks the generic plans.

/// The purge of `$table`'s rows whose `$column` is at or before `$1`: the
/// oldest 100 of them, by `$key` (the primary key, or `ctid` when the key has
/// several columns, which `= ANY` cannot look up: a row's `ctid` cannot change
/// while the statement holds its lock).
macro_rules! purge {
    ($table:literal, $key:literal, $column:literal) => {
        concat!(
            "DELETE FROM ",
            $table,
            " WHERE ",
            $key,
            " = ANY(ARRAY(SELECT ",
            $key,
            " FROM ",
            $table,
            " WHERE ",
            $column,
            " <= $1 ORDER BY ",
            $column,
            " LIMIT 100 FOR UPDATE SKIP LOCKED))"
        )
    };
}

/// Sign-in attempts.
pub(super) const LOGINS: &str = purge!("logins", "state_hash", "expires_at");
/// Native sign-in nonces.
pub(super) const NATIVE_NONCES: &str = purge!("native_nonces", "nonce_hash", "expires_at");
/// Names Apple sent that no sign-in completed (keyed by team and sub).
pub(super) const PENDING_NAMES: &str = purge!("pending_names", "ctid", "created_at");
/// Identity tokens spent by sign-ins.
pub(super) const SPENT_IDENTITY_TOKENS: &str =
    purge!("spent_identity_tokens", "token_hash", "expires_at");
/// Notification ids already applied.
pub(super) const SEEN_EVENTS: &str = purge!("seen_events", "jti", "expires_at");
/// The oldest 100 candidate session families (`expires_at` at or before
/// `$1`) are the batch of both statements below. A rotation does not write
/// its family, so a family's `expires_at` is a lower bound: its first
/// token's expiry, or its newest token's when a purge last looked.
macro_rules! family_candidates {
    () => {
        "f.family_id = ANY(ARRAY(SELECT family_id FROM session_families \
         WHERE expires_at <= $1 ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))"
    };
}

/// A candidate's newest token expiry, as a scalar subquery: an `EXISTS`
/// here was planned as a join that hashed every token of the table.
macro_rules! newest_token_expiry {
    () => {
        "(SELECT MAX(s.expires_at) FROM sessions s WHERE s.family_id = f.family_id)"
    };
}

/// The candidates that still have a live token get their newest token's
/// expiry, and leave the candidates until then (one write per family per
/// token lifetime instead of one per rotation).
pub(super) const CATCH_UP_LIVE_FAMILIES: &str = concat!(
    "UPDATE session_families f SET expires_at = ",
    newest_token_expiry!(),
    " WHERE ",
    family_candidates!(),
    " AND ",
    newest_token_expiry!(),
    " > $1"
);
/// The candidates without a live token are deleted (their tokens cascade);
/// one with a live token never is, caught up or not.
pub(super) const SESSION_FAMILIES: &str = concat!(
    "DELETE FROM session_families f WHERE ",
    family_candidates!(),
    " AND COALESCE(",
    newest_token_expiry!(),
    ", 0) <= $1"
);
/// Authorization codes of the OpenID Provider.
pub(super) const OIDC_CODES: &str = purge!("oidc_codes", "code_hash", "expires_at");

#[cfg(test)]
mod tests;
