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

/// Sign-in attempts (`logins.expires_at`).
pub(super) const LOGINS: &str = "DELETE FROM logins WHERE state_hash = ANY(ARRAY(\
     SELECT state_hash FROM logins WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Native sign-in nonces (`native_nonces.expires_at`).
pub(super) const NATIVE_NONCES: &str = "DELETE FROM native_nonces WHERE nonce_hash = ANY(ARRAY(\
     SELECT nonce_hash FROM native_nonces WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Names Apple sent that no sign-in completed (`pending_names.created_at`).
/// Its key has two columns, which `= ANY` cannot look up in the index: the
/// rows go by their `ctid`, which cannot change while the statement holds
/// their locks.
pub(super) const PENDING_NAMES: &str = "DELETE FROM pending_names WHERE ctid = ANY(ARRAY( \
     SELECT ctid FROM pending_names WHERE created_at <= $1 \
     ORDER BY created_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Identity tokens spent by sign-ins (`spent_identity_tokens.expires_at`).
pub(super) const SPENT_IDENTITY_TOKENS: &str =
    "DELETE FROM spent_identity_tokens WHERE token_hash = ANY(ARRAY(\
     SELECT token_hash FROM spent_identity_tokens WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Notification ids already applied (`seen_events.expires_at`).
pub(super) const SEEN_EVENTS: &str = "DELETE FROM seen_events WHERE jti = ANY(ARRAY(\
     SELECT jti FROM seen_events WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Session families whose newest token has expired (their tokens cascade).
pub(super) const SESSION_FAMILIES: &str =
    "DELETE FROM session_families WHERE family_id = ANY(ARRAY(\
     SELECT family_id FROM session_families WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

/// Authorization codes of the OpenID Provider (`oidc_codes.expires_at`).
pub(super) const OIDC_CODES: &str = "DELETE FROM oidc_codes WHERE code_hash = ANY(ARRAY(\
     SELECT code_hash FROM oidc_codes WHERE expires_at <= $1 \
     ORDER BY expires_at LIMIT 100 FOR UPDATE SKIP LOCKED))";

#[cfg(test)]
mod tests;
