-- The OpenID Provider (issue 14). See the SQLite migration of the same name.
CREATE TABLE oidc_codes (
    code_hash      BYTEA   NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT,
    family_id      TEXT
);
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);
CREATE INDEX oidc_codes_user ON oidc_codes (user_id);

ALTER TABLE session_families ADD COLUMN oidc_client TEXT;
ALTER TABLE session_families ADD COLUMN scope TEXT;
ALTER TABLE session_families ADD COLUMN auth_time BIGINT;
