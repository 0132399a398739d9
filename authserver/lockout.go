// Per-account login lockout against password guessing (OWASP Authentication Cheat Sheet
// "Account Lockout"; NIST SP 800-63B §5.2.2), counted in the store (store.LockoutStore), so that
// every instance sharing a store enforces one count.
package authserver

import (
	"context"
	"net/http"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// lockKey is one failure count a sign-in attempt is checked against and counts towards.
type lockKey struct {
	key    string
	known  bool // the count of a known browser
	policy store.LockoutPolicy
}

// lockKeys returns the counts of a sign-in to the account userID from r. A browser the user
// signed in with before (knownDevice) has a count of its own, apart from the account's, so
// that guesses from elsewhere do not lock the owner out of it.
func (s *Server) lockKeys(r *http.Request, userID string) []lockKey {
	if d := s.knownDevice(r, userID); d != "" {
		return []lockKey{{key: "browser:" + userID + "/" + d, known: true, policy: s.lockPolicy}}
	}
	return []lockKey{{key: "account:" + userID, policy: s.lockPolicy}}
}

// checkLockout decides a sign-in attempt by r to the account u whose password check said
// passwordOK: refused (false) while any of its counts is locked, whatever the password (audited
// login.locked); otherwise a wrong password counts against each of them and a right one clears
// them. A right password with no failures on record costs one read.
func (s *Server) checkLockout(ctx context.Context, r *http.Request, u *store.User, passwordOK bool) (bool, error) {
	if s.lockPolicy.Failures <= 0 {
		return passwordOK, nil
	}
	keys := s.lockKeys(r, u.ID)
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	now := s.now()
	recs, err := s.store.GetLoginFailures(ctx, names)
	if err != nil {
		return false, err
	}
	for _, f := range recs {
		if f.Locked(now) {
			s.audit(ctx, "login.locked", "user_id", u.ID, "known_browser", keys[0].known, "until", f.LockedUntil,
				"remote", s.clientAddr(r), "reason", "sign-in attempt while locked")
			return false, nil
		}
	}
	if !passwordOK {
		for _, k := range keys {
			until, err := s.store.RecordLoginFailure(ctx, k.key, now, k.policy)
			if err != nil {
				return false, err
			}
			if !until.IsZero() {
				s.audit(ctx, "login.locked", "user_id", u.ID, "known_browser", k.known, "until", until, "remote", s.clientAddr(r),
					"reason", "too many wrong passwords")
			}
		}
		return false, nil
	}
	if len(recs) > 0 {
		return true, s.store.ClearLoginFailures(ctx, names, now)
	}
	return true, nil
}
