-- Access tokens are no longer recorded when issued (they are self-contained JWTs, RFC 9068):
-- only the jtis revoked through /revoke (RFC 7009 §2.1) are kept, each until its token expires.
CREATE TABLE IF NOT EXISTS revoked_access_tokens (
	jti        TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
INSERT INTO revoked_access_tokens (jti, expires_at) SELECT jti, expires_at FROM access_tokens WHERE revoked_at <> 0;
DROP TABLE access_tokens;
