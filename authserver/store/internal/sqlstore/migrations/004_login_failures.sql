-- Failed sign-ins per lockout key (an account, or an account from one network or one known
-- browser), shared by every instance on the database: store.LockoutStore. Times in Unix ms.
CREATE TABLE IF NOT EXISTS login_failures (
	lock_key     TEXT PRIMARY KEY,
	failures     BIGINT NOT NULL,
	window_start BIGINT NOT NULL,
	locked_until BIGINT NOT NULL DEFAULT 0,
	lock_ms      BIGINT NOT NULL DEFAULT 0
);
