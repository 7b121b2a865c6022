-- /readyz writes one row, so that a database that answers reads but cannot
-- write (a full disk, a read-only file system) is reported not ready.
CREATE TABLE readiness (
    id         INTEGER NOT NULL PRIMARY KEY,
    checked_at INTEGER NOT NULL
);
