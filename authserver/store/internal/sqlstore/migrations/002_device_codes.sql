-- Device authorization grant (RFC 8628): pending authorizations the device polls for.
CREATE TABLE IF NOT EXISTS device_codes (
	hash           TEXT PRIMARY KEY,
	user_code_hash TEXT NOT NULL UNIQUE,
	client_id      TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	resources      TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	last_polled_at BIGINT NOT NULL DEFAULT 0,
	decided_at     BIGINT NOT NULL DEFAULT 0,
	approved       BOOLEAN NOT NULL DEFAULT FALSE,
	subject        TEXT NOT NULL DEFAULT '',
	grant_id       TEXT NOT NULL DEFAULT '',
	used_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS device_codes_expires ON device_codes (expires_at);
