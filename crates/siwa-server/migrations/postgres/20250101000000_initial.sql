-- siwa-server schema, PostgreSQL flavour. Keep in step with ../sqlite/: both
-- backends must behave identically. Times are Unix seconds (BIGINT).

-- Our users. `id` is 32 random hex characters drawn by the store.
-- `email_key` is the email folded to lower case by the store (one folding for
-- both backends), used only to associate accounts by verified email.
CREATE TABLE users (
    id               TEXT    NOT NULL PRIMARY KEY,
    email            TEXT,
    email_key        TEXT,
    email_verified   BOOLEAN NOT NULL DEFAULT FALSE,
    is_private_email BOOLEAN NOT NULL DEFAULT FALSE,
    email_forwarding BOOLEAN NOT NULL DEFAULT TRUE,
    first_name       TEXT,
    last_name        TEXT,
    real_user_status BIGINT,
    created_at       BIGINT  NOT NULL,
    last_login_at    BIGINT  NOT NULL
);
CREATE INDEX users_email_key ON users (email_key);

-- Apple identities (one per team and sub), each linked to one user.
-- `client_id` is the client the held Apple refresh token belongs to.
CREATE TABLE apple_identities (
    team_id          TEXT    NOT NULL,
    sub              TEXT    NOT NULL,
    user_id          TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id        TEXT    NOT NULL,
    token_ciphertext BYTEA,
    revoked          BOOLEAN NOT NULL DEFAULT FALSE,
    linked_at        BIGINT  NOT NULL,
    PRIMARY KEY (team_id, sub)
);
CREATE INDEX apple_identities_user ON apple_identities (user_id);

-- Started sign-ins (state and nonce), single use, purged once expired.
CREATE TABLE logins (
    state_hash   BYTEA  NOT NULL PRIMARY KEY,
    nonce        TEXT   NOT NULL,
    browser_hash BYTEA  NOT NULL,
    return_to    TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX logins_expires ON logins (expires_at);

-- Session families: one per sign-in. `expires_at` is the expiry of the
-- family's newest refresh token; past it the family is purged.
CREATE TABLE session_families (
    family_id  TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX session_families_user ON session_families (user_id);
CREATE INDEX session_families_expires ON session_families (expires_at);

-- Refresh tokens (hashed). A spent one stays, so that its reuse is detected.
CREATE TABLE sessions (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    family_id  TEXT   NOT NULL REFERENCES session_families (family_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX sessions_family ON sessions (family_id);

-- Apple notification ids already handled.
CREATE TABLE seen_events (
    jti         TEXT   NOT NULL PRIMARY KEY,
    received_at BIGINT NOT NULL
);

-- Account deletions waiting for Apple's /auth/revoke. No foreign key to users:
-- a job must never vanish as a side effect; erase_user removes it explicitly.
-- An identity column never reuses an id, so a stale worker cannot finish a newer job.
CREATE TABLE deletion_jobs (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT   NOT NULL,
    client_id        TEXT   NOT NULL,
    token_ciphertext BYTEA  NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    leased_until     BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX deletion_jobs_user_client ON deletion_jobs (user_id, client_id);
CREATE INDEX deletion_jobs_due ON deletion_jobs (next_attempt_at, id);
