-- Several Services IDs and Apple's JS (issue 15): a sign-in attempt names
-- the Services ID it began with and, for a popup sign-in, the redirect URI
-- given to AppleID.auth.init (the code is exchanged with exactly that one).
-- NULL: the primary Services ID and its callback (attempts of earlier versions).
ALTER TABLE logins ADD COLUMN client_id TEXT;
ALTER TABLE logins ADD COLUMN redirect_uri TEXT;
