//! The webhooks' outbox and the daily check of Apple tokens on Postgres:
//! `store::outbox`'s methods, with this backend's pool (rows locked `FOR UPDATE SKIP LOCKED`, so replicas never take the same event or token), and the delivery worker's writes.

use serde_json::{Map, Value};

use super::super::events::{EventRow, EventState, EventType, NewEvent, OutboxEvent};
use super::super::outbox::{self, outbox_methods};
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, short_error, AppleToken, EventFilter, Notification, NotificationEffect,
    StoreResult, User,
};
use super::{PostgresStore, PURGE_BATCH};

outbox_methods!(
    PostgresStore,
    sqlx::Postgres,
    postgres,
    " FOR UPDATE SKIP LOCKED"
);

/// The delivery worker's writes (SQLite sends them through its writer task).
impl PostgresStore {
    pub(super) async fn lease_outbox(
        &self,
        now: i64,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<OutboxEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(outbox::lease_events!(" FOR UPDATE SKIP LOCKED"))
            .bind(now)
            .bind(limit)
            .bind(lease_secs.max(1))
            .fetch_all(&self.pool)
            .await?;
        Ok(outbox::leased(rows))
    }

    pub(super) async fn reached_endpoint(
        &self,
        seq: i64,
        endpoint: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(outbox::MARK_DELIVERED_TO)
            .bind(seq)
            .bind(endpoint)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn finish_outbox_event(
        &self,
        seq: i64,
        state: EventState,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(outbox::FINISH_EVENT)
            .bind(seq)
            .bind(state.as_str())
            .bind(now)
            .bind(error.map(short_error))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn retry_outbox_event(
        &self,
        seq: i64,
        next_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(outbox::RETRY_EVENT)
            .bind(seq)
            .bind(next_at)
            .bind(short_error(error))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn purge_outbox(&self, before: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(outbox::PURGE_DELIVERIES)
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&mut *tx)
            .await?;
        sqlx::query(outbox::PURGE_EVENTS)
            .bind(before)
            .bind(PURGE_BATCH)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
