//! The outbox of account events and the daily check of Apple tokens,
//! written once for both backends (as `provider.rs`): one SQL text each, in
//! numbered `$N` parameters, and one body each, expanded into each backend by
//! [`outbox_methods!`] with that backend's pool, transaction and row lock
//! (PostgreSQL's `FOR UPDATE SKIP LOCKED`, so that replicas never take the
//! same event or token; SQLite's single writer needs none).

use super::events::{EventRow, OutboxEvent};

/// The columns of an outbox event, in `events::EventRow`'s order.
macro_rules! event_columns {
    () => {
        "id, event_id, type, user_id, body, created_at, state, attempts, next_attempt_at, \
         finished_at, last_error"
    };
}

pub(super) const INSERT_EVENT: &str = "INSERT INTO webhook_events \
     (event_id, user_id, type, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)";

/// Leases due events (`$1` now, `$2` at most, `$3` lease seconds): pending,
/// not leased, and the oldest pending event of their user (one event per
/// user in flight: delivery in order per user). `{lock}` is the backend's
/// row lock of the chosen rows.
macro_rules! lease_events {
    ($lock:literal) => {
        concat!(
            "UPDATE webhook_events SET leased_until = $1 + $3 WHERE id IN (\
             SELECT e.id FROM webhook_events e \
             WHERE e.state = 'pending' AND e.next_attempt_at <= $1 AND e.leased_until <= $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_events p \
                             WHERE p.user_id = e.user_id AND p.id < e.id AND p.state = 'pending') \
             ORDER BY e.id LIMIT $2",
            $lock,
            ") AND leased_until <= $1 RETURNING ",
            outbox::event_columns!()
        )
    };
}
pub(super) use {event_columns, lease_events};

/// Leased rows as events, oldest first (the order of delivery per user).
pub(super) fn leased(rows: Vec<EventRow>) -> Vec<OutboxEvent> {
    let mut events: Vec<OutboxEvent> = rows.into_iter().map(OutboxEvent::from).collect();
    events.sort_by_key(|event| event.seq);
    events
}

pub(super) const DELIVERED_ENDPOINTS: &str =
    "SELECT endpoint FROM webhook_deliveries WHERE event_seq = $1";
pub(super) const MARK_DELIVERED_TO: &str = "INSERT INTO webhook_deliveries \
     (event_seq, endpoint, delivered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
pub(super) const FINISH_EVENT: &str = "UPDATE webhook_events SET state = $2, finished_at = $3, \
     last_error = $4, attempts = attempts + 1, leased_until = 0 WHERE id = $1";
pub(super) const RETRY_EVENT: &str = "UPDATE webhook_events SET attempts = attempts + 1, \
     next_attempt_at = $2, last_error = $3, leased_until = 0 WHERE id = $1";
pub(super) const FORGET_DELIVERIES: &str =
    "DELETE FROM webhook_deliveries WHERE event_seq = (SELECT id FROM webhook_events WHERE event_id = $1)";
pub(super) const REQUEUE_EVENT: &str =
    "UPDATE webhook_events SET state = 'pending', attempts = 0, \
     next_attempt_at = $2, leased_until = 0, finished_at = NULL, last_error = NULL \
     WHERE event_id = $1";
pub(super) const LIST_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM webhook_events WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR user_id = $2) \
     ORDER BY id DESC LIMIT $3"
);
pub(super) const EVENT_BY_ID: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM webhook_events WHERE event_id = $1"
);
pub(super) const BACKLOG: &str = "SELECT COUNT(*) FROM webhook_events WHERE state = 'pending'";
/// Finished events (delivered or given up) before `$1`, at most `$2`.
/// Both statements pick the same batch (the oldest ids), so no delivery row
/// outlives its event.
macro_rules! purge_batch {
    () => {
        "(SELECT id FROM webhook_events WHERE state <> 'pending' AND finished_at < $1 \
         ORDER BY id LIMIT $2)"
    };
}
pub(super) const PURGE_DELIVERIES: &str = concat!(
    "DELETE FROM webhook_deliveries WHERE event_seq IN ",
    purge_batch!()
);
pub(super) const PURGE_EVENTS: &str =
    concat!("DELETE FROM webhook_events WHERE id IN ", purge_batch!());

/// An Apple token is due for its daily check when neither its last check
/// nor its last renewal (a sign-in stores a fresh one) is after `$1`.
macro_rules! token_due {
    () => {
        "COALESCE(checked_at, updated_at) <= $1 AND updated_at <= $1"
    };
}

/// Takes up to `$2` due tokens (due before `$1`), oldest check first,
/// marking them checked at `$3` so that no other worker takes them: the
/// batch walks `apple_tokens_check_due` in order and stops at the limit,
/// then its rows are updated one probe each. On PostgreSQL by physical row
/// id (`ctid = ANY(ARRAY(…))`: matching the three-column key, or even `ctid
/// IN (…)`, let the generic plan hash-join the whole table), rows locked
/// `FOR UPDATE SKIP LOCKED`; on SQLite by primary key (the table has no
/// rowid; its one writer needs no lock).
macro_rules! take_due_tokens {
    (postgres) => {
        outbox::take_due_tokens!(@ "ctid = ANY(ARRAY(", "ctid", " FOR UPDATE SKIP LOCKED", "))")
    };
    (sqlite) => {
        outbox::take_due_tokens!(@ "(team_id, sub, client_id) IN (", "team_id, sub, client_id", "", ")")
    };
    (@ $open:literal, $columns:literal, $lock:literal, $close:literal) => {
        concat!(
            "UPDATE apple_tokens SET checked_at = $3 WHERE ",
            $open,
            "SELECT ",
            $columns,
            " FROM apple_tokens WHERE ",
            outbox::token_due!(),
            " ORDER BY COALESCE(checked_at, updated_at) LIMIT $2",
            $lock,
            $close,
            " RETURNING team_id, sub, client_id, token_ciphertext"
        )
    };
}
pub(super) use {take_due_tokens, token_due};

pub(super) const COUNT_TOKENS: &str = "SELECT COUNT(*) FROM apple_tokens";
pub(super) const COUNT_DUE_TOKENS: &str =
    concat!("SELECT COUNT(*) FROM apple_tokens WHERE ", token_due!());
pub(super) const RESCHEDULE_CHECK: &str = "UPDATE apple_tokens SET checked_at = $4 \
     WHERE team_id = $1 AND sub = $2 AND client_id = $3";

/// The outbox's and the daily check's methods of a backend store `$store`
/// over the database `$db` (`$backend`: `postgres` or `sqlite`), with
/// `$lock` after each queue's row selection.
macro_rules! outbox_methods {
    ($store:ty, $db:ty, $backend:ident, $lock:literal) => {
        /// Records an event in the outbox, inside the caller's transaction (on its connection).
        pub(super) async fn insert_event(
            tx: &mut <$db as sqlx::Database>::Connection,
            event: &NewEvent,
        ) -> StoreResult<()> {
            sqlx::query(outbox::INSERT_EVENT)
                .bind(&event.event_id)
                .bind(&event.user_id)
                .bind(event.kind.as_str())
                .bind(&event.body)
                .bind(event.created_at)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        /// A user as stored now, inside the caller's transaction (an event's `user`).
        pub(super) async fn read_user(
            tx: &mut <$db as sqlx::Database>::Connection,
            user_id: &str,
        ) -> StoreResult<Option<User>> {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            Ok(row.map(|row| row.user()).transpose()?)
        }

        /// Applies a notification's effect inside the caller's transaction
        /// (its id already recorded), with its account event.
        pub(super) async fn apply_effect(
            tx: &mut <$db as sqlx::Database>::Connection,
            notification: &Notification,
        ) -> StoreResult<()> {
            let (team_id, sub, now) = (&notification.team_id, &notification.sub, notification.now);
            match &notification.effect {
                NotificationEffect::EmailForwarding { email, enabled } => {
                    let email = given(email.as_deref());
                    let row = sqlx::query(&format!(
                        "UPDATE users SET email_forwarding = $3, \
                         email = COALESCE($4, email), email_key = COALESCE($5, email_key) \
                         WHERE id = (SELECT user_id FROM apple_identities \
                                     WHERE team_id = $1 AND sub = $2) \
                         RETURNING {USER_COLUMNS}"
                    ))
                    .bind(team_id)
                    .bind(sub)
                    .bind(enabled)
                    .bind(email)
                    .bind(email.map(email_key))
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(row) = row {
                        let user = row.user()?;
                        let mut detail = Map::new();
                        detail.insert("email_forwarding".into(), Value::from(*enabled));
                        let kind = EventType::UserEmailForwardingChanged;
                        let event = NewEvent::new(kind, &user.id, Some(&user), detail, now)?;
                        insert_event(tx, &event).await?;
                    }
                }
                NotificationEffect::ConsentRevoked => {
                    let user_id: Option<String> = sqlx::query_scalar(
                        "UPDATE apple_identities SET revoked = TRUE \
                         WHERE team_id = $1 AND sub = $2 RETURNING user_id",
                    )
                    .bind(team_id)
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM apple_tokens WHERE team_id = $1 AND sub = $2")
                        .bind(team_id)
                        .bind(sub)
                        .execute(&mut *tx)
                        .await?;
                    if let Some(user_id) = user_id {
                        sqlx::query(
                            "UPDATE session_families SET revoked = TRUE WHERE user_id = $1",
                        )
                        .bind(&user_id)
                        .execute(&mut *tx)
                        .await?;
                        let user = read_user(tx, &user_id).await?;
                        let mut detail = Map::new();
                        detail.insert("source".into(), Value::from(notification.source.as_str()));
                        let kind = EventType::UserConsentRevoked;
                        let event = NewEvent::new(kind, &user_id, user.as_ref(), detail, now)?;
                        insert_event(tx, &event).await?;
                    }
                }
                NotificationEffect::AccountDelete => {
                    let user_id: Option<String> = sqlx::query_scalar(
                        "SELECT user_id FROM apple_identities WHERE team_id = $1 AND sub = $2",
                    )
                    .bind(team_id)
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(user_id) = user_id {
                        super::erase(tx, &user_id, now).await?;
                    }
                }
                NotificationEffect::Nothing => {}
            }
            Ok(())
        }

        /// Records `user.deleted` when `erased` says the user's row went.
        pub(super) async fn record_erasure(
            tx: &mut <$db as sqlx::Database>::Connection,
            user_id: &str,
            erased: bool,
            now: i64,
        ) -> StoreResult<()> {
            if erased {
                let event = NewEvent::about(EventType::UserDeleted, user_id, None, now)?;
                insert_event(tx, &event).await?;
            }
            Ok(())
        }

        /// Records `session.revoked` for a family revoked because a spent
        /// refresh token came back.
        pub(super) async fn record_reuse(
            tx: &mut <$db as sqlx::Database>::Connection,
            user_id: &str,
            family_id: &str,
            now: i64,
        ) -> StoreResult<()> {
            let user = read_user(tx, user_id).await?;
            let mut detail = Map::new();
            detail.insert("session_id".into(), Value::from(family_id));
            detail.insert("reason".into(), Value::from("refresh_token_reused"));
            let event = NewEvent::new(
                EventType::SessionRevoked,
                user_id,
                user.as_ref(),
                detail,
                now,
            )?;
            insert_event(tx, &event).await
        }

        impl $store {
            pub(super) async fn endpoints_reached(&self, seq: i64) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(outbox::DELIVERED_ENDPOINTS)
                    .bind(seq)
                    .fetch_all(&self.pool)
                    .await?)
            }

            pub(super) async fn list_outbox(
                &self,
                filter: &EventFilter,
            ) -> StoreResult<Vec<OutboxEvent>> {
                let rows: Vec<EventRow> = sqlx::query_as(outbox::LIST_EVENTS)
                    .bind(filter.state.map(EventState::as_str))
                    .bind(filter.user_id.as_deref())
                    .bind(filter.limit.max(1))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(OutboxEvent::from).collect())
            }

            pub(super) async fn outbox_event(
                &self,
                event_id: &str,
            ) -> StoreResult<Option<OutboxEvent>> {
                let row: Option<EventRow> = sqlx::query_as(outbox::EVENT_BY_ID)
                    .bind(event_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(OutboxEvent::from))
            }

            pub(super) async fn requeue_outbox_event(
                &self,
                event_id: &str,
                now: i64,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(outbox::FORGET_DELIVERIES)
                    .bind(event_id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query(outbox::REQUEUE_EVENT)
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn outbox_backlog(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(outbox::BACKLOG)
                    .fetch_one(&self.pool)
                    .await?)
            }

            pub(super) async fn take_due_token_checks(
                &self,
                due_before: i64,
                limit: i64,
                now: i64,
            ) -> StoreResult<Vec<AppleToken>> {
                if limit <= 0 {
                    return Ok(Vec::new());
                }
                let rows: Vec<(String, String, String, Vec<u8>)> =
                    sqlx::query_as(outbox::take_due_tokens!($backend))
                        .bind(due_before)
                        .bind(limit)
                        .bind(now)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(team_id, sub, client_id, ciphertext)| AppleToken {
                        team_id,
                        sub,
                        client_id,
                        ciphertext,
                    })
                    .collect())
            }

            pub(super) async fn token_counts(&self, due_before: i64) -> StoreResult<(i64, i64)> {
                let total: i64 = sqlx::query_scalar(outbox::COUNT_TOKENS)
                    .fetch_one(&self.pool)
                    .await?;
                let due: i64 = sqlx::query_scalar(outbox::COUNT_DUE_TOKENS)
                    .bind(due_before)
                    .fetch_one(&self.pool)
                    .await?;
                Ok((total, due))
            }

            pub(super) async fn reschedule_check(
                &self,
                token: &AppleToken,
                checked_at: i64,
            ) -> StoreResult<()> {
                sqlx::query(outbox::RESCHEDULE_CHECK)
                    .bind(&token.team_id)
                    .bind(&token.sub)
                    .bind(&token.client_id)
                    .bind(checked_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(super) use outbox_methods;
