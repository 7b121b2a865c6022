-- The daily check takes the tokens due for it oldest check first, and counts
-- them, each round (at most a minute apart). Without an index on when a
-- token was last checked, each round read and sorted the whole table: O(n)
-- per round in the number of stored Apple tokens, about one per user.
CREATE INDEX apple_tokens_check_due ON apple_tokens ((COALESCE(checked_at, updated_at)));
