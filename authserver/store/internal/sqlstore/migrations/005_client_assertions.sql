-- The client assertions (private_key_jwt) the server accepted, each kept until it can no longer
-- be accepted, so that every instance on the database refuses a replay (RFC 7523 §3 item 7):
-- store.AssertionStore. Times in Unix ms.
CREATE TABLE IF NOT EXISTS client_assertions (
	client_id  TEXT NOT NULL,
	jti        TEXT NOT NULL,
	keep_until BIGINT NOT NULL,
	PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS client_assertions_keep_until ON client_assertions (keep_until);
