//! Each purge walks its table's time index, whatever PostgreSQL guesses: on
//! tables full of rows that are not expired (the worst case, and the usual
//! one), the generic plan of every purge must not scan the table.

use super::super::scratch::Scratch;
use super::{
    CATCH_UP_LIVE_FAMILIES, LOGINS, NATIVE_NONCES, OIDC_CODES, PENDING_NAMES, SEEN_EVENTS,
    SESSION_FAMILIES, SPENT_IDENTITY_TOKENS,
};

/// Rows per table: enough that a scan of the table costs more than the
/// index to PostgreSQL's planner.
const ROWS: i64 = 20_000;

/// Fills each purged table with `ROWS` rows that expire in the future.
const FILL: &str = "
INSERT INTO users (id, email_verified, is_private_email, email_forwarding, created_at, last_login_at)
  VALUES ('u', false, false, false, 0, 0);
INSERT INTO logins (state_hash, nonce, browser_hash, return_to, created_at, expires_at)
  SELECT decode(md5('l' || g), 'hex'), 'n', '\\x00', '/', 0, 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO native_nonces (nonce_hash, expires_at)
  SELECT decode(md5('n' || g), 'hex'), 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO pending_names (team_id, sub, created_at)
  SELECT 'TEAM', 's' || g, 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO spent_identity_tokens (token_hash, expires_at)
  SELECT decode(md5('t' || g), 'hex'), 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO seen_events (jti, received_at, expires_at)
  SELECT 'j' || g, 0, 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO session_families (family_id, user_id, revoked, created_at, expires_at, client_id)
  SELECT 'f' || g, 'u', false, 0, 2000000000 + g, 'c' FROM generate_series(1, $ROWS) g;
INSERT INTO sessions (token_hash, family_id, created_at, expires_at)
  SELECT decode(md5('s' || g), 'hex'), 'f' || g, 0, 2000000000 + g FROM generate_series(1, $ROWS) g;
INSERT INTO oidc_codes (code_hash, client_id, redirect_uri, user_id, scope, auth_time, created_at, expires_at)
  SELECT decode(md5('c' || g), 'hex'), 'c', '/', 'u', 'openid', 0, 0, 2000000000 + g
  FROM generate_series(1, $ROWS) g;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_purge_walks_its_index_not_the_table() {
    let Some(mut db) = Scratch::open("purge").await else {
        return;
    };
    db.run(&FILL.replace("$ROWS", &ROWS.to_string())).await;

    let purges = [
        ("logins", "expires_at", LOGINS),
        ("native_nonces", "expires_at", NATIVE_NONCES),
        ("pending_names", "created_at", PENDING_NAMES),
        ("spent_identity_tokens", "expires_at", SPENT_IDENTITY_TOKENS),
        ("seen_events", "expires_at", SEEN_EVENTS),
        ("session_families", "expires_at", SESSION_FAMILIES),
        ("oidc_codes", "expires_at", OIDC_CODES),
    ];
    // Before the statistics exist (a table just filled), and after.
    for (batch, analyzed) in [(1_i64, false), (2, true)] {
        if analyzed {
            db.run("ANALYZE").await;
        }
        // The families' catch-up walks the same index, and their tokens by
        // family (the fill's tokens expire with their families: nothing
        // to catch up).
        let plan = db.generic_plan(CATCH_UP_LIVE_FAMILIES, "1000000000").await;
        assert!(
            !plan.contains("Seq Scan") && plan.contains("Limit"),
            "the families' catch-up scans a table (analyzed: {analyzed}):\n{plan}"
        );
        let caught_up = rows_changed(&mut db, CATCH_UP_LIVE_FAMILIES).await;
        assert_eq!(caught_up, 0, "no family of the fill has a live token");
        for (table, column, purge) in purges {
            let plan = db.generic_plan(purge, "1000000000").await;
            assert!(
                !plan.contains(&format!("Seq Scan on {table}")),
                "the purge of {table} scans the table (analyzed: {analyzed}):\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan on sessions"),
                "the purge of {table} scans the tokens (analyzed: {analyzed}):\n{plan}"
            );
            assert!(
                plan.contains("Index") && plan.contains("Limit"),
                "the purge of {table} walks no index (analyzed: {analyzed}):\n{plan}"
            );
            // And it deletes one batch of what has expired, oldest first.
            let deleted = rows_changed(&mut db, purge).await;
            assert_eq!(deleted, 100, "{table}: one batch");
            let oldest: i64 = sqlx::query_scalar(&format!("SELECT MIN({column}) FROM {table}"))
                .fetch_one(&mut db.conn)
                .await
                .unwrap();
            assert_eq!(
                oldest,
                2_000_000_000 + 100 * batch + 1,
                "{table}: the oldest go first"
            );
        }
    }
    db.remove().await;
}

/// The rows `statement` changes with the fill's first 1,000 rows expired.
async fn rows_changed(db: &mut Scratch, statement: &str) -> u64 {
    sqlx::query(statement)
        .bind(2_000_000_000 + 1_000_i64)
        .execute(&mut db.conn)
        .await
        .unwrap()
        .rows_affected()
}
