// Audit events: structured log/slog records of registrations, logins, consents, token
// issuance, refresh token reuse, revocations and policy refusals. They never carry a secret:
// no token, code, secret or password, only identifiers (client ID, user ID, grant ID, jti).
package authserver

import (
	"context"
	"log/slog"
	"strings"
)

// audit logs one audit event at Info level with the attribute audit=<event>. Refusals and
// detected attacks (events ending in "refused", "reuse", "replay", "failed" or "locked") are logged at Warn.
func (s *Server) audit(ctx context.Context, event string, args ...any) {
	level := slog.LevelInfo
	switch {
	case strings.HasSuffix(event, ".refused"), strings.HasSuffix(event, ".reuse"), strings.HasSuffix(event, ".replay"), strings.HasSuffix(event, ".failed"),
		strings.HasSuffix(event, ".locked"):
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "audit: "+event, append([]any{slog.String("audit", event)}, args...)...)
}

// auditTokenIssued is audit(ctx, "token.issued", ...) for every access token issued, without
// the conversions of audit's variadic arguments (one record per token makes it hot).
func (s *Server) auditTokenIssued(ctx context.Context, c *accessClaims) {
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit: token.issued", slog.String("audit", "token.issued"),
		slog.String("client_id", c.ClientID), slog.String("subject", c.Subject), slog.String("grant_id", c.GrantID),
		slog.String("jti", c.ID), slog.String("scope", c.Scope), slog.Any("aud", []string(c.Audience)))
}
