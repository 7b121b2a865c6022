-- siwa-server schema, SQLite flavour. Keep in step with ../postgres/: both
-- backends must behave identically. Times are Unix seconds; booleans 0/1.
-- Tables keyed by text or bytes are WITHOUT ROWID: the primary key is the table.

-- Our users. `id` is 32 random hex characters drawn by the store.
-- `email_key` is the email folded to lower case by the store (one folding for
-- both backends), used only to associate accounts by verified email.
CREATE TABLE users (
    id               TEXT    NOT NULL PRIMARY KEY,
    email            TEXT,
    email_key        TEXT,
    email_verified   INTEGER NOT NULL DEFAULT 0,
    is_private_email INTEGER NOT NULL DEFAULT 0,
    email_forwarding INTEGER NOT NULL DEFAULT 1,
    first_name       TEXT,
    last_name        TEXT,
    real_user_status INTEGER,
    created_at       INTEGER NOT NULL,
    last_login_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX users_email_key ON users (email_key);

-- Apple identities (one per team and sub), each linked to one user.
-- `client_id` is the client the held Apple refresh token belongs to.
CREATE TABLE apple_identities (
    team_id          TEXT    NOT NULL,
    sub              TEXT    NOT NULL,
    user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id        TEXT    NOT NULL,
    token_ciphertext BLOB,
    revoked          INTEGER NOT NULL DEFAULT 0,
    linked_at        INTEGER NOT NULL,
    PRIMARY KEY (team_id, sub)
) WITHOUT ROWID;
CREATE INDEX apple_identities_user ON apple_identities (user_id);

-- Started sign-ins (state and nonce), single use, purged once expired.
CREATE TABLE logins (
    state_hash   BLOB    NOT NULL PRIMARY KEY,
    nonce        TEXT    NOT NULL,
    browser_hash BLOB    NOT NULL,
    return_to    TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX logins_expires ON logins (expires_at);

-- Session families: one per sign-in. `expires_at` is the expiry of the
-- family's newest refresh token; past it the family is purged.
CREATE TABLE session_families (
    family_id  TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revoked    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX session_families_user ON session_families (user_id);
CREATE INDEX session_families_expires ON session_families (expires_at);

-- Refresh tokens (hashed). A spent one stays, so that its reuse is detected.
CREATE TABLE sessions (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES session_families (family_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX sessions_family ON sessions (family_id);

-- Apple notification ids already handled.
CREATE TABLE seen_events (
    jti         TEXT    NOT NULL PRIMARY KEY,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Account deletions waiting for Apple's /auth/revoke. No foreign key to users:
-- a job must never vanish as a side effect; erase_user removes it explicitly.
-- AUTOINCREMENT: an id is never reused, so a stale worker cannot finish a newer job.
CREATE TABLE deletion_jobs (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id          TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    token_ciphertext BLOB    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    leased_until     INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX deletion_jobs_user_client ON deletion_jobs (user_id, client_id);
CREATE INDEX deletion_jobs_due ON deletion_jobs (next_attempt_at, id);
