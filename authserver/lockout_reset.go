// An operator unlocks an account the login lockout locked (OWASP Authentication Cheat Sheet
// "Account Lockout": unlocked after a time, or by an administrator).
package authserver

import (
	"context"
	"log/slog"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// UnlockUser deletes every lockout count of the user's account, locked or not: per network,
// per known browser and over all networks (the keys of lockKeys), so that the user can sign
// in at once and their next wrong password counts from one. It returns the user and how many
// records it deleted; store.ErrNotFound if there is no such user. An Admin from Server.Admin
// audits the unlock (login.unlocked) to the server's logger.
func (a *Admin) UnlockUser(ctx context.Context, username string) (*store.User, int, error) {
	u, err := a.store.GetUserByName(ctx, username)
	if err != nil {
		return nil, 0, err
	}
	n, err := a.store.DeleteLoginFailures(ctx, []string{accountKey(u.ID)},
		[]string{networkKeys(u.ID), browserKeys(u.ID)})
	if err == nil && a.log != nil {
		a.log.LogAttrs(ctx, slog.LevelInfo, "audit: login.unlocked", slog.String("audit", "login.unlocked"),
			slog.String("user_id", u.ID), slog.String("username", u.Username), slog.Int("records", n))
	}
	return u, n, err
}
