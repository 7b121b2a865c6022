-- The two queues read each round: neither may read the table to find the
-- head of its queue.
--
-- The daily check takes the tokens due for it, oldest check first, each
-- round (at most a minute apart). Without an index on when a token was last
-- checked, each round read and sorted the whole table: about one row per
-- user.
CREATE INDEX apple_tokens_check_due ON apple_tokens ((COALESCE(checked_at, updated_at)));

-- The outbox leases its pending events oldest first. With no index of the
-- pending events in id order, the lease walked the primary key from the
-- oldest event on, past every delivered one still kept (days of them).
CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE state = 'pending';
