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
