-- The session cache (issue 18): every change a cached `session_user` could
-- have seen is appended to `session_changes` with the id of the user
-- concerned, in the transaction that makes it (so a rollback leaves no
-- entry, and entries appear in commit order: SQLite has one writer). Each
-- `siwa serve` reads the log after its own commits and every few
-- milliseconds for other processes', and drops those users from its cache.
-- Triggers, rather than the service's own code, so that no write path (a
-- cascade, a maintenance statement, another process, a future query) can
-- change a session or a profile unannounced.
--
-- AUTOINCREMENT: a sequence number is never reused, even after the rows
-- below it are pruned, so a reader that finds the log starting after the
-- last number it read knows it missed some (and flushes its cache).
CREATE TABLE session_changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT    NOT NULL
);

-- Any change to a user's row (the profile `GET /me` returns), or its deletion.
CREATE TRIGGER users_session_cache_update AFTER UPDATE ON users
BEGIN
    INSERT INTO session_changes (user_id) VALUES (OLD.id);
    INSERT INTO session_changes (user_id) SELECT NEW.id WHERE NEW.id IS NOT OLD.id;
END;

CREATE TRIGGER users_session_cache_delete AFTER DELETE ON users
BEGIN
    INSERT INTO session_changes (user_id) VALUES (OLD.id);
END;

-- Any change to a session family but the extension of its expiry by a
-- refresh (every rotation does that; the cache does not read it), or its
-- deletion (a cascade from its user, or a purge). New rows need no
-- announcement: only sessions found active are cached. The columns are
-- listed (SQLite cannot compare whole rows); a test changes each column of
-- the table in turn and fails for one added without being listed here.
CREATE TRIGGER session_families_session_cache_update AFTER UPDATE ON session_families
WHEN OLD.family_id IS NOT NEW.family_id
  OR OLD.user_id IS NOT NEW.user_id
  OR OLD.revoked IS NOT NEW.revoked
  OR OLD.created_at IS NOT NEW.created_at
  OR OLD.client_id IS NOT NEW.client_id
  OR OLD.oidc_client IS NOT NEW.oidc_client
  OR OLD.scope IS NOT NEW.scope
  OR OLD.auth_time IS NOT NEW.auth_time
BEGIN
    INSERT INTO session_changes (user_id) VALUES (OLD.user_id);
    INSERT INTO session_changes (user_id) SELECT NEW.user_id WHERE NEW.user_id IS NOT OLD.user_id;
END;

CREATE TRIGGER session_families_session_cache_delete AFTER DELETE ON session_families
BEGIN
    INSERT INTO session_changes (user_id) VALUES (OLD.user_id);
END;

-- The log keeps its last 65,536 entries: pruned every 1,024th. A reader
-- behind by more than that (it would have to be stalled for seconds under
-- the heaviest load) finds the gap and flushes.
CREATE TRIGGER session_changes_prune AFTER INSERT ON session_changes
WHEN NEW.seq % 1024 = 0
BEGIN
    DELETE FROM session_changes WHERE seq <= NEW.seq - 65536;
END;
