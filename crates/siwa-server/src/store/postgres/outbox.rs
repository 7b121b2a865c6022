//! The webhooks' outbox and the daily check of Apple tokens on Postgres:
//! `store::outbox`'s methods, with this backend's pool (rows locked `FOR UPDATE SKIP LOCKED`, so replicas never take the same event or token).

use serde_json::{Map, Value};

use super::super::events::{EventRow, EventState, EventType, NewEvent, OutboxEvent};
use super::super::outbox::{self, outbox_methods};
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, short_error, AppleToken, EventFilter, Notification, NotificationEffect,
    StoreResult, User,
};
use super::{PostgresStore, PURGE_BATCH};

outbox_methods!(PostgresStore, sqlx::Postgres, " FOR UPDATE SKIP LOCKED");
