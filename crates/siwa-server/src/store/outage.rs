//! Which store failures mean "the database is unavailable right now" (a full
//! disk, a read-only file system, PostgreSQL stopped or failing over, no
//! connection within the bound) rather than a bug or bad data. Those are
//! answered 503 with `Retry-After`, logged once per outage with a hint, and
//! counted; everything else stays a 500.

use std::fmt;

use super::StoreError;

/// Why the database cannot serve requests right now.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Outage {
    /// SQLite's writer lock stayed taken beyond the busy timeout.
    Busy,
    /// The database server cannot be reached, or dropped the connection
    /// (stopped, restarting, failing over).
    Connection,
    /// The disk (or PostgreSQL's volume) is full.
    DiskFull,
    /// The disk answered with an I/O error, or the file cannot be opened.
    Io,
    /// The server is out of memory or connections.
    Overloaded,
    /// The file system (or the PostgreSQL server, a standby) is read-only.
    ReadOnly,
    /// No connection became free, or the call did not finish, within the bound.
    Timeout,
}

/// Every kind, for metrics.
pub const OUTAGES: [Outage; 7] = [
    Outage::Busy,
    Outage::Connection,
    Outage::DiskFull,
    Outage::Io,
    Outage::Overloaded,
    Outage::ReadOnly,
    Outage::Timeout,
];

impl Outage {
    /// A short label (`/metrics`, logs).
    pub fn label(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::Connection => "connection",
            Self::DiskFull => "disk_full",
            Self::Io => "io_error",
            Self::Overloaded => "overloaded",
            Self::ReadOnly => "read_only",
            Self::Timeout => "timeout",
        }
    }

    /// What an operator sees and does, for the database at `place` (a file
    /// path or a masked URL).
    pub fn explain(self, place: &str) -> String {
        match self {
            Self::Busy => format!(
                "the database {place} is locked by a writer beyond the busy timeout: another process writes to it, or a backup holds it"
            ),
            Self::Connection => format!(
                "the database {place} cannot be reached or dropped the connection: check that it is running and reachable"
            ),
            Self::DiskFull => format!("database or disk is full: free space on the volume of {place}"),
            Self::Io => format!("disk I/O error on {place}: check the volume (dmesg) and the file's permissions"),
            Self::Overloaded => format!(
                "the database {place} is out of memory or connections: check its limits and the number of replicas"
            ),
            Self::ReadOnly => format!(
                "the database {place} is read-only: remount its file system read-write and make the file and its directory writable by the service (on PostgreSQL: connect to the primary)"
            ),
            Self::Timeout => format!(
                "no answer from the database {place} within the bound: it is down, unreachable or overloaded"
            ),
        }
    }
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl StoreError {
    /// The outage this failure shows, if it shows one.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            Self::Database(e) => sqlx_outage(e),
            Self::Batch(e) => e.outage(),
            Self::Write(e) => e.sqlite_error_code().and_then(rusqlite_outage),
            Self::Read(e) => e.sqlite_error_code().and_then(rusqlite_outage),
            Self::Timeout => Some(Outage::Timeout),
            _ => None,
        }
    }
}

fn sqlx_outage(e: &sqlx::Error) -> Option<Outage> {
    match e {
        sqlx::Error::PoolTimedOut => Some(Outage::Timeout),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Outage::Connection),
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return postgres_outage(pg.code());
            }
            db.code()
                .and_then(|code| code.parse::<i32>().ok())
                .and_then(sqlite_outage)
        }
        _ => None,
    }
}

/// A PostgreSQL SQLSTATE.
fn postgres_outage(sqlstate: &str) -> Option<Outage> {
    match sqlstate {
        // Class 08, connection exception; 57P01-03: the server shuts down or starts.
        s if s.starts_with("08") => Some(Outage::Connection),
        "57P01" | "57P02" | "57P03" => Some(Outage::Connection),
        "53100" => Some(Outage::DiskFull),
        s if s.starts_with("53") => Some(Outage::Overloaded),
        // A standby after a failover, or a server in read-only mode.
        "25006" => Some(Outage::ReadOnly),
        "58030" => Some(Outage::Io),
        _ => None,
    }
}

/// An SQLite (extended) result code.
fn sqlite_outage(code: i32) -> Option<Outage> {
    match code & 0xff {
        5 | 6 => Some(Outage::Busy),
        7 => Some(Outage::Overloaded),
        8 => Some(Outage::ReadOnly),
        10 | 14 => Some(Outage::Io),
        13 => Some(Outage::DiskFull),
        _ => None,
    }
}

fn rusqlite_outage(code: rusqlite::ErrorCode) -> Option<Outage> {
    use rusqlite::ErrorCode;
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some(Outage::Busy),
        ErrorCode::OutOfMemory => Some(Outage::Overloaded),
        ErrorCode::ReadOnly => Some(Outage::ReadOnly),
        ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => Some(Outage::Io),
        ErrorCode::DiskFull => Some(Outage::DiskFull),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_are_read_by_their_primary_code() {
        assert_eq!(sqlite_outage(13), Some(Outage::DiskFull));
        assert_eq!(
            sqlite_outage(8 | (1 << 8)),
            Some(Outage::ReadOnly),
            "READONLY_RECOVERY"
        );
        assert_eq!(
            sqlite_outage(10 | (4 << 8)),
            Some(Outage::Io),
            "IOERR_WRITE"
        );
        assert_eq!(
            sqlite_outage(5 | (1 << 8)),
            Some(Outage::Busy),
            "BUSY_RECOVERY"
        );
        assert_eq!(
            sqlite_outage(19),
            None,
            "a constraint is a bug, not an outage"
        );
        assert_eq!(sqlite_outage(11), None, "corruption is not transient");
    }

    #[test]
    fn postgres_states() {
        assert_eq!(postgres_outage("08006"), Some(Outage::Connection));
        assert_eq!(postgres_outage("57P01"), Some(Outage::Connection));
        assert_eq!(postgres_outage("53100"), Some(Outage::DiskFull));
        assert_eq!(postgres_outage("53300"), Some(Outage::Overloaded));
        assert_eq!(postgres_outage("25006"), Some(Outage::ReadOnly));
        assert_eq!(
            postgres_outage("23505"),
            None,
            "a unique violation is not an outage"
        );
    }

    #[test]
    fn pool_and_io_failures_are_outages() {
        let io = StoreError::Database(sqlx::Error::Io(std::io::Error::other("reset")));
        assert_eq!(io.outage(), Some(Outage::Connection));
        assert_eq!(
            StoreError::Database(sqlx::Error::PoolTimedOut).outage(),
            Some(Outage::Timeout)
        );
        assert_eq!(StoreError::Timeout.outage(), Some(Outage::Timeout));
        assert_eq!(StoreError::Conflict.outage(), None);
        assert!(Outage::DiskFull
            .explain("/data/siwa.db")
            .contains("free space on the volume of /data/siwa.db"));
    }
}
