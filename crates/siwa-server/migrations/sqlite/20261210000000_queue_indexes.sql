-- The two queues read each round: neither may read the table to find the
-- head of its queue.
--
-- The daily check takes the tokens due for it, oldest check first, each
-- round (at most a minute apart). Without an index on when a token was last
-- checked, each round read and sorted the whole table: about one row per
-- user.
CREATE INDEX apple_tokens_check_due ON apple_tokens ((COALESCE(checked_at, updated_at)));

-- (PostgreSQL's migration also adds `webhook_events_pending`: its planner
-- walked the primary key past every delivered event. SQLite's lease finds
-- the pending events through `webhook_events_due (state, next_attempt_at,
-- id)` already, which the test of its plan holds it to.)
