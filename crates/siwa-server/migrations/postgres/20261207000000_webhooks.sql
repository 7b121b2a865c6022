-- Production (issue 16). Keep in step with ../sqlite/.

-- The outbox of account events for the application's webhooks: written in
-- the transaction of the change that causes it, delivered by a worker, in
-- order per user. `body` is the JSON delivered (and signed) on every attempt;
-- `event_id` its `webhook-id`.
CREATE TABLE webhook_events (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    user_id         TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    leased_until    BIGINT  NOT NULL DEFAULT 0,
    finished_at     BIGINT,
    last_error      TEXT
);
CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at, id);
CREATE INDEX webhook_events_user ON webhook_events (user_id, id);
CREATE INDEX webhook_events_finished ON webhook_events (finished_at);

-- The endpoints an event reached: a retry skips them (at least once per
-- endpoint, and no more while the event is retried for another one).
CREATE TABLE webhook_deliveries (
    event_seq    BIGINT  NOT NULL,
    endpoint     TEXT    NOT NULL,
    delivered_at BIGINT  NOT NULL,
    PRIMARY KEY (event_seq, endpoint)
);

-- The daily check with Apple: when each stored Apple refresh token was last
-- validated (NULL: never; its updated_at counts as a check).
ALTER TABLE apple_tokens ADD COLUMN checked_at BIGINT;
