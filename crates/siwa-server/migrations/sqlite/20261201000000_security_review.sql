-- The outside security review (issue 11). Keep in step with ../postgres/.

-- Apple refresh tokens: one per identity and client id, so that deleting an
-- account revokes each of them (the identity held only its last one before).
CREATE TABLE apple_tokens (
    team_id          TEXT    NOT NULL,
    sub              TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    token_ciphertext BLOB    NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (team_id, sub, client_id),
    FOREIGN KEY (team_id, sub) REFERENCES apple_identities (team_id, sub) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO apple_tokens (team_id, sub, client_id, token_ciphertext, updated_at)
    SELECT team_id, sub, client_id, token_ciphertext, linked_at FROM apple_identities
    WHERE token_ciphertext IS NOT NULL;
ALTER TABLE apple_identities DROP COLUMN token_ciphertext;
ALTER TABLE apple_identities DROP COLUMN client_id;

-- Identity tokens that completed a sign-in (SHA-256), until their exp: one session each.
CREATE TABLE spent_identity_tokens (
    token_hash BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX spent_identity_tokens_expires ON spent_identity_tokens (expires_at);

-- Server-issued native nonces (SHA-256), single use, short-lived.
CREATE TABLE native_nonces (
    nonce_hash BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX native_nonces_expires ON native_nonces (expires_at);

-- The name of a first-login `user` JSON, kept from the moment the identity
-- token verifies until a sign-in of that identity completes (Apple sends it once).
CREATE TABLE pending_names (
    team_id    TEXT    NOT NULL,
    sub        TEXT    NOT NULL,
    first_name TEXT,
    last_name  TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, sub)
) WITHOUT ROWID;
CREATE INDEX pending_names_created ON pending_names (created_at);

-- Notification ids are remembered until the notification's exp (then purged).
ALTER TABLE seen_events ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE seen_events SET expires_at = received_at + 86400;
CREATE INDEX seen_events_expires ON seen_events (expires_at);

-- A spent refresh token names its successor (and keeps it, encrypted, when a
-- reuse grace is configured): a racing second use gets the same successor.
ALTER TABLE sessions ADD COLUMN successor_hash BLOB;
ALTER TABLE sessions ADD COLUMN successor_ciphertext BLOB;
-- The client id a session was opened through (the access tokens' client_id).
ALTER TABLE session_families ADD COLUMN client_id TEXT NOT NULL DEFAULT '';

-- A deletion job names the identity whose token it revokes (the token's
-- encryption is bound to it); one job per token.
ALTER TABLE deletion_jobs ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deletion_jobs ADD COLUMN sub TEXT NOT NULL DEFAULT '';
DROP INDEX deletion_jobs_user_client;
CREATE UNIQUE INDEX deletion_jobs_token ON deletion_jobs (user_id, team_id, sub, client_id);
