// Refresh tokens (RFC 6749 §1.5, OAuth 2.1 §4.3): their format and the key the store finds them by.
package authserver

import (
	"strings"
	"time"
)

// A refresh token is "mrf_", the Unix millisecond it was issued at in refreshTimeDigits
// lowercase hex digits, then 43 random characters (256 bits). The store keeps it under its
// key: those digits followed by the keyed hash of the whole token, so a token whose time was
// altered has no key in the store. Keys of tokens issued in a later millisecond sort after
// earlier ones, so a rotation adds its key at the end of the store's index on them, in the
// page that the rotations committed with it share, instead of in a random page of its own:
// such pages were two thirds of the bytes a rotation wrote (6.5 kB, 2.1 kB with ordered keys,
// store alone). Tokens issued before this format carry no time, and their key is the hash
// alone.
const (
	refreshPrefix     = "mrf_"
	refreshTimeDigits = 12 // hex Unix milliseconds, enough until the year 10889
	refreshTokenLen   = len(refreshPrefix) + refreshTimeDigits + 43
)

// newRefreshToken returns a new refresh token issued at now and its store key.
func (s *Server) newRefreshToken(now time.Time) (token, key string) {
	issued := timeDigits(now)
	token = refreshPrefix + issued + randomToken(32)
	return token, issued + s.secrets.hash(kindRefresh, token)
}

// timeDigits returns the Unix millisecond of t in refreshTimeDigits lowercase hex digits, which
// sort as the times do.
func timeDigits(t time.Time) string {
	var digits [refreshTimeDigits]byte
	for i, ms := len(digits)-1, uint64(t.UnixMilli()); i >= 0; i, ms = i-1, ms>>4 {
		digits[i] = "0123456789abcdef"[ms&15]
	}
	return string(digits[:])
}

// refreshTokenKey returns the store key of a presented refresh token; a string that is no
// token of ours gets a key that no stored token has.
func (s *Server) refreshTokenKey(token string) string {
	if issued, ok := refreshTokenIssued(token); ok {
		return issued + s.secrets.hash(kindRefresh, token)
	}
	return s.secrets.hash(kindRefresh, token)
}

// refreshTokenIssued returns the issue time digits of a refresh token in the current format.
func refreshTokenIssued(token string) (string, bool) {
	if len(token) != refreshTokenLen || !strings.HasPrefix(token, refreshPrefix) {
		return "", false
	}
	issued := token[len(refreshPrefix) : len(refreshPrefix)+refreshTimeDigits]
	for _, c := range []byte(issued) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return issued, true
}
