//! Keeps the session cache (`store/session_cache.rs`) true on SQLite: reads
//! the `session_changes` log that the database's triggers append to (migration
//! `20261208000000_session_cache.sql`) and drops each user named there.
//!
//! It is read:
//!
//! - by the writer, after each commit and before it answers the requests in
//!   it, so that this process reads its own writes at once (a logout is
//!   followed by a refused `GET /me`, never a cached one);
//! - by a poller every [`POLL_INTERVAL`], for what other processes wrote to
//!   the file (the `siwa` commands, another `siwa serve`), and what this
//!   process wrote outside the writer;
//!
//! on a read-only connection of its own whose busy timeout is zero (the
//! writer never waits on it). A read that fails flushes the cache instead:
//! what was missed is then read from the database. So does a log that no
//! longer holds everything since the last read (pruned past this reader's
//! place), or that ends below it (a file restored from an older backup;
//! looked for by the poller only, so that the writer's reads stay one
//! query). The cache is used only once the first read succeeded (the
//! poller's, when the first session is looked up).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::session_cache::SessionCache;

/// How often other processes' changes are looked for: the longest a change
/// made elsewhere can go unseen by this process's cache.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The log's reader for one database file and one cache.
pub(super) struct ChangeFeed {
    path: PathBuf,
    cache: Arc<SessionCache>,
    state: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    connection: Option<Connection>,
    /// The last sequence number read; `None` before the first read.
    last_seq: Option<i64>,
    polling: bool,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ChangeFeed {
    pub(super) fn new(path: &Path, cache: Arc<SessionCache>) -> Self {
        Self {
            path: path.to_owned(),
            cache,
            state: Mutex::new(FeedState::default()),
        }
    }

    pub(super) fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    /// Starts the poller, once (within a Tokio runtime). It stops when the
    /// store is dropped.
    pub(super) fn start(self: &Arc<Self>) {
        {
            let mut state = self.lock();
            if state.polling {
                return;
            }
            state.polling = true;
        }
        let feed = Arc::downgrade(self);
        tokio::spawn(poll(feed));
    }

    /// After a commit of this process's writer: what it changed is dropped
    /// before its requests are answered. Nothing to do until the poller made
    /// the first read (the cache is not in use before).
    pub(super) fn after_commit(&self) {
        if self.lock().last_seq.is_some() {
            // A restarted log is another process's doing: the poller's to find.
            self.catch_up(Restart::Ignore);
        }
    }

    /// Reads the log from where it was left and drops the users named; on
    /// failure, flushes the cache (and tries again at the next call).
    fn catch_up(&self, restart: Restart) {
        let mut state = self.lock();
        match read_log(&self.path, &mut state, restart) {
            Ok(Read::First(last)) => {
                state.last_seq = Some(last);
                // Empty now; what it held before a failure may be stale.
                self.cache.set_listening(true);
            }
            Ok(Read::Restarted { last }) => {
                tracing::warn!("the session change log starts again below this process's place (a restored file?); session cache flushed");
                self.cache.flush();
                state.last_seq = Some(last);
            }
            Ok(Read::Changes { users, last, gap }) => {
                if gap {
                    tracing::warn!("the session change log was pruned past this process's place; session cache flushed");
                    self.cache.flush();
                } else {
                    for user in &users {
                        self.cache.invalidate_user(user);
                    }
                }
                state.last_seq = Some(last);
            }
            Err(e) => {
                // The connection may be the cause: a new one next time.
                state.connection = None;
                self.cache.flush();
                tracing::debug!(error = %e, "reading the session change log failed; session cache flushed");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        // Nothing panics under this lock; a poisoned one is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn poll(feed: Weak<ChangeFeed>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(feed) = feed.upgrade() else { return };
        feed.catch_up(Restart::LookFor);
    }
}

enum Read {
    /// The first read: where the log ends now.
    First(i64),
    /// The users changed since the last read, and the new end. `gap`: the
    /// log no longer holds everything since the last read.
    Changes {
        users: Vec<String>,
        last: i64,
        gap: bool,
    },
    /// The log ends below the last read (its rows and sequence are older
    /// than this reader's place: a file restored from a backup, a table
    /// rebuilt): its changes since cannot be told apart. `last`: its end now.
    Restarted { last: i64 },
}

/// Whether a read with nothing new also asks where the log ends, to find one
/// that starts again below the reader's place (one query more).
#[derive(Clone, Copy, PartialEq)]
enum Restart {
    LookFor,
    Ignore,
}

fn read_log(path: &Path, state: &mut FeedState, restart: Restart) -> rusqlite::Result<Read> {
    let connection = match &mut state.connection {
        Some(connection) => connection,
        None => state.connection.insert(connect(path)?),
    };
    let Some(after) = state.last_seq else {
        let last: i64 = connection
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM session_changes")?
            .query_row([], |row| row.get(0))?;
        return Ok(Read::First(last));
    };
    let mut users: Vec<String> = Vec::new();
    let mut last = after;
    let mut gap = false;
    {
        let mut statement = connection.prepare_cached(
            "SELECT seq, user_id FROM session_changes WHERE seq > ?1 ORDER BY seq",
        )?;
        let mut rows = statement.query([after])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            // Sequence numbers have no holes (one writer, rollbacks take theirs
            // back): the first one read follows the last, or some were pruned.
            if last == after && seq != after.saturating_add(1) {
                gap = true;
            }
            users.push(row.get(1)?);
            last = seq;
        }
    }
    if users.is_empty() && restart == Restart::LookFor {
        // Nothing new, or a log that starts again below this place: then
        // the changes made since are numbered at or below it, and the query
        // above would never return them. (A log that has grown past this
        // place again between two polls, 20 ms apart, reads as a gap when
        // its first rows were pruned, and is not told apart otherwise.)
        let end: i64 = connection
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM session_changes")?
            .query_row([], |row| row.get(0))?;
        if end < after {
            return Ok(Read::Restarted { last: end });
        }
    }
    users.sort_unstable();
    users.dedup();
    Ok(Read::Changes { users, last, gap })
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The writer calls in here: never wait on a lock.
    connection.busy_timeout(Duration::ZERO)?;
    Ok(connection)
}
