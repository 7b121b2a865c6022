-- The per-replica session cache (issue 18): every change a replica's cached
-- `session_user` could have seen is announced on the channel
-- `siwa_session_changed`, with the schema of the changed table and the id of
-- the user concerned (`<schema> <user id>`; `<schema> *` for a truncation).
-- Triggers, rather than the service's own code, so that no write path (a
-- cascade, a maintenance statement, a future query) can change a session or
-- a profile unannounced. NOTIFY is transactional: sent on commit, never for
-- a rollback, and repeated payloads of one transaction are sent once.

CREATE FUNCTION siwa_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siwa_session_changed', TG_TABLE_SCHEMA || ' ' || OLD.id);
    RETURN NULL;
END
$$;

CREATE FUNCTION siwa_session_family_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siwa_session_changed', TG_TABLE_SCHEMA || ' ' || OLD.user_id);
    IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM pg_notify('siwa_session_changed', TG_TABLE_SCHEMA || ' ' || NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION siwa_sessions_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('siwa_session_changed', TG_TABLE_SCHEMA || ' *');
    RETURN NULL;
END
$$;

-- Any change to a user's row (the profile `GET /me` returns) but the time of
-- their last sign-in, or its deletion. PostgreSQL commits the transactions
-- that NOTIFY one at a time (a lock on the notification queue until the
-- commit is durable), so announcing every sign-in's `last_login_at` would
-- take group commit away from sign-ins; another replica may show the
-- previous sign-in's time until its entry ages out (30 s).
CREATE TRIGGER users_session_cache_update
    AFTER UPDATE ON users
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_login_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_login_at'))
    EXECUTE FUNCTION siwa_user_changed();

CREATE TRIGGER users_session_cache_delete
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION siwa_user_changed();

-- Any change to a session family but the extension of its expiry by a
-- refresh (every rotation does that; the cache does not read it), or its
-- deletion (a cascade from its user, or a purge). New rows need no
-- announcement: only sessions found active are cached.
CREATE TRIGGER session_families_session_cache_update
    AFTER UPDATE ON session_families
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'expires_at') IS DISTINCT FROM (to_jsonb(NEW) - 'expires_at'))
    EXECUTE FUNCTION siwa_session_family_changed();

CREATE TRIGGER session_families_session_cache_delete
    AFTER DELETE ON session_families
    FOR EACH ROW EXECUTE FUNCTION siwa_session_family_changed();

CREATE TRIGGER users_session_cache_truncate
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION siwa_sessions_truncated();

CREATE TRIGGER session_families_session_cache_truncate
    AFTER TRUNCATE ON session_families
    FOR EACH STATEMENT EXECUTE FUNCTION siwa_sessions_truncated();
