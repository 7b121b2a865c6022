//! The hot read of every authenticated request, `GET /me`'s session check,
//! without sqlx's hand-off to a connection's worker thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: a query is sent
//! there and its rows sent back, two thread wake-ups that cost several times
//! the query itself (an indexed point read of a few microseconds) and most
//! of the request's CPU. This reader keeps its own read-only connections
//! (rusqlite, on the same SQLite library as sqlx) and runs the query on the
//! calling thread. That is a few microseconds of work on the async runtime,
//! like the token check before it, and it never waits on a lock: in WAL mode
//! a reader does not wait for the writer, and the reader's busy timeout is
//! zero, so in the rare moments SQLite asks readers to wait (a checkpoint
//! restarting the log, recovery after a crash) the read is `Busy` and goes
//! the sqlx way instead. `tokio::task::block_in_place` was measured and
//! cost more than the hand-off it would replace.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::user_row::{UserRow, USER_COLUMN_COUNT};
use crate::store::User;

/// Idle connections kept for reuse (more may be open while busy).
const MAX_IDLE: usize = 8;

/// Read-only connections to one database file, reused.
pub(super) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Why a direct read did not answer.
#[derive(Debug)]
pub(super) enum ReadError {
    /// SQLite asked the reader to wait: read through sqlx instead.
    Busy,
    /// Anything else.
    Failed(rusqlite::Error),
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::Busy
            }
            _ => Self::Failed(e),
        }
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// A reader of the file at `path`, checked by opening one connection.
    pub(super) fn open(path: &Path) -> rusqlite::Result<Self> {
        let reader = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let first = reader.connect()?;
        reader.put_back(first);
        Ok(reader)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on the runtime: a busy database is left to sqlx.
        connection.busy_timeout(Duration::ZERO)?;
        Ok(connection)
    }

    fn put_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
    }

    /// Runs `read` on an idle connection (or a new one).
    fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ReadError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let connection = match taken {
            Some(connection) => connection,
            None => self.connect().map_err(ReadError::from)?,
        };
        let result = read(&connection);
        self.put_back(connection);
        result.map_err(ReadError::from)
    }

    /// The user and the session's creation time, if the session family is
    /// the user's and active (`None` otherwise).
    pub(super) fn active_session(
        &self,
        family_id: &str,
        user_id: &str,
    ) -> Result<Option<(User, i64)>, ReadError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(SESSION_USER)?;
            let mut rows = statement.query((family_id, user_id))?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            let Some(created_at) = row.get::<_, Option<i64>>(USER_COLUMN_COUNT)? else {
                return Ok(None);
            };
            Ok(Some((row.user()?, created_at)))
        })
    }
}

/// The user (columns in `USER_COLUMNS` order, `store::user_row`, checked by a
/// test) and the creation time of their session `?1` if it is active (NULL
/// otherwise): the query of both this reader and the sqlx fallback. The time
/// rather than a yes or no, so that a cached session is judged against its
/// absolute lifetime at each request.
pub(super) const SESSION_USER: &str =
    "SELECT id, email, email_verified, is_private_email, email_forwarding, \
     first_name, last_name, real_user_status, created_at, last_login_at, \
     (SELECT created_at FROM session_families WHERE family_id = ?1 AND user_id = ?2 \
     AND revoked = 0 AND oidc_client IS NULL) FROM users WHERE id = ?2";

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> PathBuf {
        let mut name = [0u8; 8];
        aws_lc_rs::rand::fill(&mut name).unwrap_or_default();
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        std::env::temp_dir().join(format!("siwa-reader-{hex}.db"))
    }

    #[test]
    fn the_session_query_selects_the_user_columns_in_order() {
        let selected = SESSION_USER
            .trim_start_matches("SELECT ")
            .split(", (SELECT")
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let columns = crate::store::user_row::USER_COLUMNS
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(selected, columns);
    }

    #[test]
    fn a_locked_database_is_busy_at_once_not_waited_for() {
        let path = temp_db();
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, email_verified INTEGER, \
                 is_private_email INTEGER, email_forwarding INTEGER, first_name TEXT, last_name TEXT, \
                 real_user_status INTEGER, created_at INTEGER, last_login_at INTEGER); \
                 CREATE TABLE session_families (family_id TEXT PRIMARY KEY, user_id TEXT, revoked INTEGER, \
                 created_at INTEGER, oidc_client TEXT); \
                 INSERT INTO users VALUES ('u1', 'a@example.com', 1, 0, 1, 'Ada', NULL, 2, 10, 20); \
                 INSERT INTO session_families VALUES ('f1', 'u1', 0, 100, NULL), ('f2', 'u1', 1, 100, NULL), \
                 ('f3', 'u1', 0, 100, 'wiki');",
            )
            .unwrap();
        let reader = Reader::open(&path).unwrap();
        let (user, created_at) = reader.active_session("f1", "u1").unwrap().unwrap();
        assert_eq!(created_at, 100);
        assert_eq!(
            (
                user.email.as_deref(),
                user.first_name.as_deref(),
                user.real_user_status
            ),
            (Some("a@example.com"), Some("Ada"), Some(2))
        );
        assert!(
            reader.active_session("f2", "u1").unwrap().is_none(),
            "revoked"
        );
        assert!(
            reader.active_session("f1", "u2").unwrap().is_none(),
            "not theirs"
        );
        assert!(
            reader.active_session("f3", "u1").unwrap().is_none(),
            "a relying party's grant is no session of the service's own"
        );
        // A rollback-journal database under an exclusive transaction: the
        // reader gets Busy straight away (the store then reads through sqlx).
        writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
        assert!(matches!(
            reader.active_session("f1", "u1"),
            Err(ReadError::Busy)
        ));
        writer.execute_batch("COMMIT").unwrap();
        assert!(reader.active_session("f1", "u1").unwrap().is_some());
        drop((reader, writer));
        let _ = std::fs::remove_file(&path);
    }
}
