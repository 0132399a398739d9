// An operator's unlocking of an account locked by the login lockout (OWASP Authentication Cheat
// Sheet "Account Lockout": accounts unlock after a time or by an administrator).
package store

import "context"

// LockoutResetStore deletes failed sign-in records on an operator's request.
type LockoutResetStore interface {
	// DeleteLoginFailures deletes the records, locked or not, whose key is one of keys or
	// begins with one of prefixes, and returns how many it deleted.
	DeleteLoginFailures(ctx context.Context, keys, prefixes []string) (int, error)
}
