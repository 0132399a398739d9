// Login lockout against password guessing, per account and network and per account (OWASP
// Authentication Cheat Sheet "Account Lockout"; NIST SP 800-63B §5.2.2), counted in the store
// (store.LockoutStore), so that every instance sharing a store enforces the same counts.
package authserver

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// lockKey is one failure count a sign-in attempt is checked against and counts towards.
type lockKey struct {
	key    string
	scope  string // what it counts, for the audit log: "known browser", "network" or "account"
	policy store.LockoutPolicy
}

// lockKeys returns the counts of a sign-in to the account userID from r.
//
// A browser the user signed in with before (knownDevice) has a count of its own and no other, so
// that guesses from elsewhere never lock the owner out of it. Any other browser counts against
// its network's count for the account (LoginLockoutFailures), so that one attacker locks the
// account only for their own network, and against the account's count over all networks
// (LoginLockoutAccountFailures, higher), which bounds the guesses of an attacker with many
// addresses.
func (s *Server) lockKeys(r *http.Request, userID string) []lockKey {
	if d := s.knownDevice(r, userID); d != "" {
		return []lockKey{{key: browserKeys(userID) + d, scope: "known browser", policy: s.lockPolicy}}
	}
	keys := []lockKey{{key: networkKeys(userID) + network(s.clientAddr(r)), scope: "network", policy: s.lockPolicy}}
	if s.accountLockPolicy.Failures > 0 {
		keys = append(keys, lockKey{key: accountKey(userID), scope: "account", policy: s.accountLockPolicy})
	}
	return keys
}

// accountKey is the key of the account's count over all networks; browserKeys and networkKeys
// are the prefixes of its per-browser and per-network counts (UnlockUser deletes by them).
func accountKey(userID string) string  { return "account:" + userID }
func browserKeys(userID string) string { return "browser:" + userID + "/" }
func networkKeys(userID string) string { return "network:" + userID + "/" }

// network is the part of a client address that its host cannot vary at will: an IPv4 address,
// or the /64 of an IPv6 address (whose low 64 bits are the interface identifier a host picks
// freely, RFC 4291 §2.5.1).
func network(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
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
			s.audit(ctx, "login.locked", "user_id", u.ID, "scope", scopeOf(keys, f.Key), "until", f.LockedUntil,
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
				s.audit(ctx, "login.locked", "user_id", u.ID, "scope", k.scope, "until", until, "remote", s.clientAddr(r),
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

// scopeOf is the scope of the count named key among keys.
func scopeOf(keys []lockKey, key string) string {
	for _, k := range keys {
		if k.key == key {
			return k.scope
		}
	}
	return ""
}
