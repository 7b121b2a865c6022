-- Team transfer (issue 13): the transfer_sub Apple gave the sending team for
-- an identity, and the receiving team it was asked for. After the transfer
-- the identity is relinked to the receiving team's sub (by `siwa migrate
-- import`, or at once when its user signs in first) and both are cleared.
ALTER TABLE apple_identities ADD COLUMN transfer_sub TEXT;
ALTER TABLE apple_identities ADD COLUMN transfer_target TEXT;
CREATE UNIQUE INDEX apple_identities_transfer_sub ON apple_identities (transfer_sub)
    WHERE transfer_sub IS NOT NULL;
