-- /readyz writes one row, so that a database that answers reads but cannot
-- write (a full volume, a standby after a failover) is reported not ready.
CREATE TABLE readiness (
    id         INTEGER NOT NULL PRIMARY KEY,
    checked_at BIGINT  NOT NULL
);
