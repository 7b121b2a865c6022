-- The OpenID Provider (issue 14).
--
-- Authorization codes of the provider, by SHA-256: single use, 60 seconds,
-- bound to the client, redirect URI, PKCE challenge and nonce of their
-- request. A redeemed code stays (with the grant it opened) until it is
-- purged, so that its second use revokes that grant (RFC 6749 §4.1.2).
CREATE TABLE oidc_codes (
    code_hash      BLOB    NOT NULL PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    family_id      TEXT
) WITHOUT ROWID;
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);
CREATE INDEX oidc_codes_user ON oidc_codes (user_id);

-- A provider's grant is a session family of its own kind: `oidc_client` names
-- the relying party (NULL for the service's own sessions, which never mix
-- with grants), with the granted scope and the sign-in's time.
ALTER TABLE session_families ADD COLUMN oidc_client TEXT;
ALTER TABLE session_families ADD COLUMN scope TEXT;
ALTER TABLE session_families ADD COLUMN auth_time INTEGER;
