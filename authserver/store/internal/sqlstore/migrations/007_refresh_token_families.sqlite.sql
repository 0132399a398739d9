-- Refresh token families as chains (RFC 6749 §10.4 / OAuth 2.1 §4.3.1 rotation): each token
-- names the one it replaced (prev_id; 0 for the first of a grant), so that the janitor finds a
-- grant's tokens from its first one along the chain. A rotation then adds no entry to an index
-- keyed by grant, whose insertion point differs for every grant (a page of the index written
-- per rotation, about half of what each rotation wrote to the WAL); its new token's entry in
-- refresh_tokens_next is keyed by the id just spent, which, like id, only grows: the rotations
-- committed together write the same last page. id is the table's rowid, as before.
CREATE TABLE refresh_tokens_v7 (
	id         INTEGER PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	grant_id   TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL DEFAULT 0,
	prev_id    BIGINT NOT NULL DEFAULT 0
);
-- The tokens stored before are each the first of a chain of their own.
INSERT INTO refresh_tokens_v7 (id, hash, grant_id, client_id, created_at, expires_at, used_at)
	SELECT rowid, hash, grant_id, client_id, created_at, expires_at, used_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v7 RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_first ON refresh_tokens (grant_id) WHERE prev_id = 0;
CREATE INDEX refresh_tokens_next ON refresh_tokens (prev_id) WHERE prev_id > 0;
