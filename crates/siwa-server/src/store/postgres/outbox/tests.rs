//! The two queues find their heads through an index, whatever PostgreSQL
//! guesses (the generic plan, before and after the statistics exist):
//! - the daily check takes its due tokens through `apple_tokens_check_due`:
//!   with an Apple token per user, a round that read and sorted the whole
//!   table cost O(users log users) once a minute (the round's two counts
//!   still read what they count);
//! - the outbox leases its oldest pending events through
//!   `webhook_events_pending`: walking the primary key instead, each lease
//!   read past every delivered event still kept.

use super::super::scratch::Scratch;
use super::outbox;

/// Tokens in the table: enough that reading it all costs more than the
/// index to PostgreSQL's planner.
const ROWS: i64 = 20_000;

/// `ROWS` tokens, one per identity; token g was last renewed at 1_000_000 +
/// g, and the even ones checked later, at 2_000_000 + g.
const FILL: &str = "
INSERT INTO users (id, email_verified, is_private_email, email_forwarding, created_at, last_login_at)
  VALUES ('u', false, false, false, 0, 0);
INSERT INTO apple_identities (team_id, sub, user_id, revoked, linked_at)
  SELECT 'TEAM', 's' || g, 'u', false, 0 FROM generate_series(1, $ROWS) g;
INSERT INTO apple_tokens (team_id, sub, client_id, token_ciphertext, updated_at, checked_at)
  SELECT 'TEAM', 's' || g, 'c', '\\x00', 1000000 + g,
         CASE WHEN g % 2 = 0 THEN 2000000 + g END
  FROM generate_series(1, $ROWS) g;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_check_takes_due_tokens_through_its_index() {
    let Some(mut db) = Scratch::open("daily_check").await else {
        return;
    };
    db.run(&FILL.replace("$ROWS", &ROWS.to_string())).await;
    let take = outbox::take_due_tokens!(postgres);
    // Before the statistics exist (a table just filled), and after.
    for analyzed in [false, true] {
        if analyzed {
            db.run("ANALYZE").await;
        }
        let plan = db.generic_plan(take, "1500000, 100, 5").await;
        assert!(
            !plan.contains("Seq Scan on apple_tokens") && !plan.contains("Sort"),
            "taking due tokens reads the table (analyzed: {analyzed}):\n{plan}"
        );
        assert!(
            plan.contains("apple_tokens_check_due") && plan.contains("Tid"),
            "taking due tokens walks no index (analyzed: {analyzed}):\n{plan}"
        );
    }
    // And a round takes the oldest checks first: the odd tokens, never
    // checked, by their renewal; then only tokens still due.
    let taken: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(take)
        .bind(1_000_000 + 300_i64)
        .bind(100_i64)
        .bind(3_000_000_i64)
        .fetch_all(&mut db.conn)
        .await
        .unwrap();
    let mut taken: Vec<i64> = taken
        .iter()
        .map(|(_, sub, _, _)| sub[1..].parse().unwrap())
        .collect();
    taken.sort_unstable();
    let oldest: Vec<i64> = (1..=199).step_by(2).collect();
    assert_eq!(taken, oldest);
    let due: i64 = sqlx::query_scalar(outbox::COUNT_DUE_TOKENS)
        .bind(1_000_000 + 300_i64)
        .fetch_one(&mut db.conn)
        .await
        .unwrap();
    assert_eq!(due, 50, "the odd tokens 201..=299 are still due");
    db.remove().await;
}

/// `DELIVERED` delivered events (the oldest) and then `PENDING` pending
/// ones, of 5,000 users.
const EVENTS: &str = "
INSERT INTO users (id, email_verified, is_private_email, email_forwarding, created_at, last_login_at)
  VALUES ('u', false, false, false, 0, 0);
INSERT INTO webhook_events (event_id, user_id, type, body, created_at, next_attempt_at, state, finished_at)
  SELECT 'e' || g, 'u' || (g % 5000), 'user.created', '{}', g, g,
         CASE WHEN g > $DELIVERED THEN 'pending' ELSE 'delivered' END,
         CASE WHEN g > $DELIVERED THEN NULL ELSE g END
  FROM generate_series(1, $DELIVERED + $PENDING) g;
";
const DELIVERED: i64 = 49_000;
const PENDING: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_leases_its_oldest_pending_events_through_their_index() {
    let Some(mut db) = Scratch::open("lease").await else {
        return;
    };
    db.run(
        &EVENTS
            .replace("$DELIVERED", &DELIVERED.to_string())
            .replace("$PENDING", &PENDING.to_string()),
    )
    .await;
    let lease = outbox::lease_events!(" FOR UPDATE SKIP LOCKED");
    for analyzed in [false, true] {
        if analyzed {
            db.run("ANALYZE").await;
        }
        let plan = db.generic_plan(lease, "100000, 10, 60").await;
        assert!(
            plan.contains("Index Scan using webhook_events_pending on webhook_events e")
                && !plan.contains("Seq Scan on webhook_events"),
            "the lease does not find the pending events through their index (analyzed: {analyzed}):\n{plan}"
        );
    }
    // The ten oldest pending events, each of its own user, are leased.
    let leased: Vec<i64> = sqlx::query_scalar(&format!(
        "WITH leased AS ({lease}) SELECT id FROM leased ORDER BY id"
    ))
    .bind(100_000_i64)
    .bind(10_i64)
    .bind(60_i64)
    .fetch_all(&mut db.conn)
    .await
    .unwrap();
    assert_eq!(leased, (DELIVERED + 1..=DELIVERED + 10).collect::<Vec<_>>());
    db.remove().await;
}
