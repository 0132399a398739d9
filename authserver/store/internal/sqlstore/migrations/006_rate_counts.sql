-- Rate-limit budgets shared by every instance on the database, one time per key (when its budget
-- is whole again), and marks that hold until a time: store.RateCountStore. Times in Unix ms.
-- No index on full_at: each counted event rewrites it, and only the janitor's sweep every few
-- minutes searches by it.
CREATE TABLE IF NOT EXISTS rate_counts (
	rate_key TEXT PRIMARY KEY,
	full_at  BIGINT NOT NULL
);
