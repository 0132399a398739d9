-- Rate-limit budgets shared by every instance on the database, one time per key (when its budget
-- is whole again), and marks that hold until a time: store.RateCountStore. Times in Unix ms.
CREATE TABLE IF NOT EXISTS rate_counts (
	rate_key TEXT PRIMARY KEY,
	full_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_counts_full_at ON rate_counts (full_at);
