//! The session cache's listener: one connection per store that `LISTEN`s on
//! [`CHANNEL`] and drops, from the cache, each user the triggers of
//! `20261208000000_session_cache.sql` name.
//!
//! The cache is used only while this connection is up, and once a heartbeat
//! sent to the channel has been seen to come back. When it is lost (an
//! error, the server gone, the backend terminated, or no message at all for
//! [`SILENCE`] although a heartbeat goes out every [`HEARTBEAT`]), the cache is
//! switched off and flushed, and the listener reconnects with a backoff; once
//! it listens again the cache is flushed once more and switched back on.
//!
//! Channels are per database, not per schema: the payload names the schema
//! of the table that changed (`<schema> <user id>`, `<schema> *` for a
//! truncation, `<schema>` alone for a heartbeat), and a listener heeds only
//! its own schema's.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use super::super::session_cache::SessionCache;

/// The channel the triggers notify.
pub(super) const CHANNEL: &str = "siwa_session_changed";
/// A heartbeat goes out on the channel when it has been quiet this long.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// No message at all for this long (three heartbeats missed): the connection
/// is taken for lost.
const SILENCE: Duration = Duration::from_secs(15);
/// The first wait before reconnecting, doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long connecting (or the first queries) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The listener's `application_name` (in `pg_stat_activity`).
pub(super) const APPLICATION_NAME: &str = "siwa session cache";

/// Aborts the listener when the last clone of the store goes.
#[derive(Debug)]
pub(super) struct Running(tokio::task::AbortHandle);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the listener of `cache`: it connects with `options`, and sends its
/// heartbeats through `pool` (the store's). `place` is the masked URL, for logs.
pub(super) fn spawn(
    cache: Arc<SessionCache>,
    options: PgConnectOptions,
    pool: PgPool,
    place: String,
) -> Running {
    let task = tokio::spawn(run(cache, options, pool, place));
    Running(task.abort_handle())
}

async fn run(cache: Arc<SessionCache>, options: PgConnectOptions, pool: PgPool, place: String) {
    let options = options.application_name(APPLICATION_NAME);
    let mut backoff = FIRST_BACKOFF;
    let mut failures = 0u32;
    loop {
        match listen(&cache, &options, &pool).await {
            Ok(error) => {
                cache.set_listening(false);
                tracing::warn!(
                    database = %place,
                    error = %error,
                    "session cache: the notification listener lost its connection; \
                     sessions are read from the database until it reconnects"
                );
                backoff = FIRST_BACKOFF;
                failures = 0;
            }
            Err(error) => {
                failures += 1;
                // Said once per outage, then quietly.
                if failures == 1 {
                    tracing::warn!(
                        database = %place,
                        error = %error,
                        "session cache: cannot listen for session changes; \
                         sessions are read from the database until it can"
                    );
                } else {
                    tracing::debug!(database = %place, error = %error, failures, "session cache: still cannot listen");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects, listens, and handles notifications until the connection is
/// lost (`Ok`: why); `Err` when it could not start listening.
async fn listen(
    cache: &SessionCache,
    options: &PgConnectOptions,
    heartbeats: &PgPool,
) -> Result<String, String> {
    // A pool of one of its own: the listener's connection is not one of
    // the requests', and goes with it.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options.clone());
    let start = async {
        let mut listener = PgListener::connect_with(&own).await?;
        // Losing the connection returns from try_recv at once, without
        // reconnecting behind our back: the cache must be flushed first.
        listener.eager_reconnect(false);
        let (schema, pid): (Option<String>, i32) =
            sqlx::query_as("SELECT current_schema()::text, pg_backend_pid()")
                .fetch_one(&mut listener)
                .await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>((listener, schema, pid))
    };
    let (mut listener, schema, pid) = tokio::time::timeout(CONNECT_TIMEOUT, start)
        .await
        .map_err(|_| "connecting took more than 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
    let heartbeat_payload = schema.clone().unwrap_or_default();
    // Notifications must be seen to come through before the cache is
    // trusted (a transaction-pooling proxy in between would accept LISTEN
    // and deliver nothing): a heartbeat, sent through the store's pool,
    // has to come back. Whatever arrives first is heeded after the flush.
    heartbeat(heartbeats, &heartbeat_payload).await;
    match tokio::time::timeout(CONNECT_TIMEOUT, listener.try_recv()).await {
        Ok(Ok(Some(_))) => {}
        Ok(Ok(None)) => return Err("the connection was closed".to_owned()),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(
                "a notification sent to the channel did not come back within 5 s \
                        (is a transaction-pooling proxy in between?)"
                    .to_owned(),
            )
        }
    }
    cache.stats().set_listener_pid(pid);
    cache.set_listening(true);
    tracing::info!(
        schema = schema.as_deref().unwrap_or(""),
        backend_pid = pid,
        "session cache: listening for session changes"
    );
    loop {
        // The receive is never cancelled mid-message: the same future is
        // polled until it ends, heartbeats going out beside it.
        let received = {
            let recv = listener.try_recv();
            tokio::pin!(recv);
            let quiet_since = tokio::time::Instant::now();
            let mut ticks = tokio::time::interval_at(quiet_since + HEARTBEAT, HEARTBEAT);
            loop {
                tokio::select! {
                    received = &mut recv => break Some(received),
                    _ = ticks.tick() => {
                        if quiet_since.elapsed() >= SILENCE {
                            break None;
                        }
                        heartbeat(heartbeats, &heartbeat_payload).await;
                    }
                }
            }
        };
        let notification = match received {
            Some(Ok(Some(notification))) => notification,
            Some(Ok(None)) => return Ok("the connection was closed".to_owned()),
            Some(Err(e)) => return Ok(e.to_string()),
            None => {
                let secs = SILENCE.as_secs();
                return Ok(format!("no message, not even a heartbeat, for {secs} s"));
            }
        };
        apply(cache, schema.as_deref(), notification.payload());
    }
}

/// Handles one payload: `<schema> <user id>`, `<schema> *`, or a heartbeat.
fn apply(cache: &SessionCache, schema: Option<&str>, payload: &str) {
    let (of, what) = payload.split_once(' ').unwrap_or((payload, ""));
    // Without a schema of our own (no search path), every change is heeded.
    if schema.is_some_and(|own| own != of) {
        return;
    }
    match what {
        "" => {}
        "*" => cache.flush(),
        user_id => cache.invalidate_user(user_id),
    }
}

/// A notification on the channel, through the store's pool, so that a
/// healthy but quiet listener hears something.
async fn heartbeat(pool: &PgPool, schema: &str) {
    let sent = tokio::time::timeout(
        CONNECT_TIMEOUT,
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(schema)
            .execute(pool),
    )
    .await;
    if !matches!(sent, Ok(Ok(_))) {
        tracing::debug!("session cache: the heartbeat could not be sent");
    }
}

/// A store's cache with its listener, started on first use (a store that
/// never reads a session, as in most `siwa` commands, holds no connection
/// for it).
pub(super) struct Cached {
    pub(super) cache: Arc<SessionCache>,
    options: PgConnectOptions,
    place: String,
    running: std::sync::OnceLock<Running>,
}

impl Cached {
    /// A cache whose listener will connect with `options` (`place`: the
    /// masked URL, for logs).
    pub(super) fn new(cache: SessionCache, options: PgConnectOptions, place: String) -> Self {
        Self {
            cache: Arc::new(cache),
            options,
            place,
            running: std::sync::OnceLock::new(),
        }
    }

    /// Starts the listener, once (inside a Tokio runtime).
    pub(super) fn start(&self, pool: &PgPool) {
        self.running.get_or_init(|| {
            spawn(
                Arc::clone(&self.cache),
                self.options.clone(),
                pool.clone(),
                self.place.clone(),
            )
        });
    }
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the options: they hold the password.
        f.debug_struct("Cached")
            .field("cache", &self.cache)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::session_cache::{Lookup, MAX_AGE};
    use super::*;

    #[test]
    fn only_the_own_schema_is_heeded() {
        let cache = SessionCache::new(100, MAX_AGE, Arc::default());
        cache.set_listening(true);
        let miss = |cache: &SessionCache| match cache.lookup("f", "u1", 0) {
            Lookup::Miss(Some(ticket)) => ticket,
            other => unreachable!("{other:?}"),
        };
        let user = crate::store::User {
            id: "u1".into(),
            email: None,
            email_verified: false,
            is_private_email: false,
            email_forwarding: true,
            first_name: None,
            last_name: None,
            real_user_status: None,
            created_at: 1,
            last_login_at: 1,
        };
        let kept = |cache: &SessionCache| matches!(cache.lookup("f", "u1", 0), Lookup::Hit(_));
        let t = miss(&cache);
        assert!(cache.fill(t, "f", &user, 10));
        // Another schema's user, a heartbeat, another user: kept.
        for payload in ["other u1", "mine", "mine u2", ""] {
            apply(&cache, Some("mine"), payload);
            assert!(kept(&cache), "{payload:?}");
        }
        apply(&cache, Some("mine"), "mine u1");
        assert!(!kept(&cache));
        let t = miss(&cache);
        assert!(cache.fill(t, "f", &user, 10));
        apply(&cache, Some("mine"), "mine *");
        assert!(!kept(&cache));
        // Without a schema of our own, every schema's changes count.
        let t = miss(&cache);
        assert!(cache.fill(t, "f", &user, 10));
        apply(&cache, None, "other u1");
        assert!(!kept(&cache));
    }
}
