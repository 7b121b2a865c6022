-- The outbox's lease delivers one event per user at a time: it takes a
-- pending event only when no older event of its user is pending. With only
-- `webhook_events_user (user_id, id)` to answer that, the check read every
-- older event of the user (delivered ones included) to look at its state,
-- so each lease cost grew with the user's history: sign-ins slowed round
-- after round under load (bench/load.sh). A partial index of the pending
-- events alone answers it from the few that are pending.
CREATE INDEX webhook_events_user_pending ON webhook_events (user_id, id) WHERE state = 'pending';
