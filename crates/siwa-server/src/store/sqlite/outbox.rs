//! The webhooks' outbox and the daily check of Apple tokens on Sqlite:
//! `store::outbox`'s methods, with this backend's pool (SQLite's one writer needs no row lock), and the delivery worker's writes through the writer task.

use serde_json::{Map, Value};

use super::super::events::{EventRow, EventState, EventType, NewEvent, OutboxEvent};
use super::super::outbox::{self, outbox_methods};
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, short_error, AppleToken, EventFilter, Notification, NotificationEffect,
    StoreResult, User,
};
use super::group_commit::Write;
use super::{SqliteStore, PURGE_BATCH};

outbox_methods!(SqliteStore, sqlx::Sqlite, sqlite, "");

/// The delivery worker's writes, through the writer task: a burst of events
/// is finished in the group commits of the requests, not one fsync each.
impl SqliteStore {
    pub(super) async fn lease_outbox(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let rows: Vec<EventRow> = self
            .writer
            .write(move |tx| {
                Box::pin(async move {
                    let rows: Vec<EventRow> = sqlx::query_as(outbox::lease_events!(""))
                        .bind(now)
                        .bind(limit)
                        .bind(lease_secs.max(1))
                        .fetch_all(&mut **tx)
                        .await?;
                    Ok(if rows.is_empty() {
                        Write::Discard(rows)
                    } else {
                        Write::Commit(rows)
                    })
                })
            })
            .await?;
        Ok(outbox::leased(rows))
    }

    pub(super) async fn reached_endpoint(
        &self,
        seq: i64,
        endpoint: &str,
        now: i64,
    ) -> StoreResult<()> {
        let endpoint = endpoint.to_owned();
        self.write_one(
            sqlx::query(outbox::MARK_DELIVERED_TO)
                .bind(seq)
                .bind(endpoint)
                .bind(now),
        )
        .await
    }

    pub(super) async fn finish_outbox_event(
        &self,
        seq: i64,
        state: EventState,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let error = error.map(|e| short_error(e).to_owned());
        self.write_one(
            sqlx::query(outbox::FINISH_EVENT)
                .bind(seq)
                .bind(state.as_str())
                .bind(now)
                .bind(error),
        )
        .await
    }

    pub(super) async fn retry_outbox_event(
        &self,
        seq: i64,
        next_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        let error = short_error(error).to_owned();
        self.write_one(
            sqlx::query(outbox::RETRY_EVENT)
                .bind(seq)
                .bind(next_at)
                .bind(error),
        )
        .await
    }

    pub(super) async fn purge_outbox(&self, before: i64) -> StoreResult<()> {
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    sqlx::query(outbox::PURGE_DELIVERIES)
                        .bind(before)
                        .bind(PURGE_BATCH)
                        .execute(&mut **tx)
                        .await?;
                    sqlx::query(outbox::PURGE_EVENTS)
                        .bind(before)
                        .bind(PURGE_BATCH)
                        .execute(&mut **tx)
                        .await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }

    /// One statement (its arguments owned) in the writer's next commit.
    async fn write_one(
        &self,
        statement: sqlx::query::Query<
            'static,
            sqlx::Sqlite,
            sqlx::sqlite::SqliteArguments<'static>,
        >,
    ) -> StoreResult<()> {
        self.writer
            .write(move |tx| {
                Box::pin(async move {
                    statement.execute(&mut **tx).await?;
                    Ok(Write::Commit(()))
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::super::super::Store;
    use super::*;

    /// SQLite's plan for `statement` with `arguments`, on a migrated
    /// database of its own.
    async fn query_plan(statement: &str, arguments: &[i64]) -> String {
        let mut name = [0u8; 8];
        aws_lc_rs::rand::fill(&mut name).unwrap();
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("siwa-plan-{hex}.db"));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {statement}");
        let query = arguments
            .iter()
            .fold(sqlx::query(&sql), |query, argument| query.bind(*argument));
        let plan: Vec<String> = query
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        plan.join("\n")
    }

    /// The lease reads pending events only: its "no older pending event of
    /// the user" check through the partial index, not every older event of
    /// the user (a cost that grew with each user's history), and the events
    /// it takes through the index that starts with their state.
    #[tokio::test]
    async fn the_lease_reads_only_pending_events_of_the_user() {
        let plan = query_plan(outbox::lease_events!(""), &[1, 10, 60]).await;
        assert!(
            plan.contains("webhook_events_user_pending"),
            "the lease's per-user check is not on the pending index:\n{plan}"
        );
        // And the events themselves are found among the pending ones, not
        // by reading past every delivered event still kept.
        assert!(
            plan.contains("SEARCH e USING INDEX webhook_events_due (state=?"),
            "the lease does not find the pending events through an index:\n{plan}"
        );
    }

    /// The daily check takes its due tokens in the order of its index, not
    /// by reading and sorting the whole table each round.
    #[tokio::test]
    async fn the_daily_check_takes_due_tokens_through_its_index() {
        let plan = query_plan(outbox::take_due_tokens!(sqlite), &[1, 10, 60]).await;
        assert!(
            plan.contains("apple_tokens_check_due") && !plan.contains("TEMP B-TREE"),
            "taking due tokens does not walk apple_tokens_check_due:\n{plan}"
        );
    }
}
