//! The webhooks' outbox and the daily check of Apple tokens on Sqlite:
//! `store::outbox`'s methods, with this backend's pool (SQLite's one writer needs no row lock).

use serde_json::{Map, Value};

use super::super::events::{EventRow, EventState, EventType, NewEvent, OutboxEvent};
use super::super::outbox::{self, outbox_methods};
use super::super::user_row::{UserRow, USER_COLUMNS};
use super::super::{
    email_key, given, short_error, AppleToken, EventFilter, Notification, NotificationEffect,
    StoreResult, User,
};
use super::{SqliteStore, PURGE_BATCH};

outbox_methods!(SqliteStore, sqlx::Sqlite, "");
