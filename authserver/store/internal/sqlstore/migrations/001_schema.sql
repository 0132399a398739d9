-- The mcpauth authorization server schema, the same on PostgreSQL and SQLite. Times are Unix
-- milliseconds, 0 meaning "not set"; lists of scopes or resources are space-separated. The SQL
-- is portable: SQLite gives BIGINT columns integer affinity and keeps BYTEA values as the blobs
-- they are stored as. IF NOT EXISTS lets a SQLite file created before migrations existed (by
-- the same tables) be adopted.
CREATE TABLE IF NOT EXISTS clients (
	id                      TEXT PRIMARY KEY,
	kind                    TEXT NOT NULL,
	secret_hash             TEXT NOT NULL DEFAULT '',
	secret_expires_at       BIGINT NOT NULL DEFAULT 0,
	registration_token_hash TEXT NOT NULL DEFAULT '',
	metadata                TEXT NOT NULL,
	scopes                  TEXT, -- NULL: any scope the server serves
	quota_tier              TEXT NOT NULL DEFAULT '',
	created_at              BIGINT NOT NULL,
	last_used_at            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS clients_kind_used ON clients (kind, last_used_at);

CREATE TABLE IF NOT EXISTS users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	scopes        TEXT NOT NULL,
	created_at    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS consents (
	user_id    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, client_id)
);
CREATE INDEX IF NOT EXISTS consents_client ON consents (client_id);

CREATE TABLE IF NOT EXISTS sessions (
	hash       TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS grants (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	resources  TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS grants_client ON grants (client_id);
CREATE INDEX IF NOT EXISTS grants_subject ON grants (subject);
CREATE INDEX IF NOT EXISTS grants_expires ON grants (expires_at);

CREATE TABLE IF NOT EXISTS auth_codes (
	hash           TEXT PRIMARY KEY,
	grant_id       TEXT NOT NULL,
	client_id      TEXT NOT NULL,
	subject        TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	scopes         TEXT NOT NULL,
	resources      TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL,
	used_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS auth_codes_grant ON auth_codes (grant_id);

CREATE TABLE IF NOT EXISTS refresh_tokens (
	hash       TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE IF NOT EXISTS access_tokens (
	jti        TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE IF NOT EXISTS signing_keys (
	id            TEXT PRIMARY KEY,
	algorithm     TEXT NOT NULL,
	encrypted     BYTEA NOT NULL,
	created_at    BIGINT NOT NULL,
	sign_until    BIGINT NOT NULL,
	publish_until BIGINT NOT NULL
);
