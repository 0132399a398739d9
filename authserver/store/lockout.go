// Failed sign-ins counted in the store, so that every server instance sharing it enforces one
// login lockout (OWASP Authentication Cheat Sheet "Account Lockout"; NIST SP 800-63B §5.2.2).
package store

import (
	"context"
	"time"
)

// LockoutPolicy says when failed sign-ins lock a key.
type LockoutPolicy struct {
	// Failures within Window lock the key. The window opens at the first failure counted in it.
	Failures int
	Window   time.Duration
	// Lock is the length of a first lock; each further lock lasts twice the one before, at
	// most MaxLock. A key without failures for MaxLock after its last lock ended starts afresh.
	Lock, MaxLock time.Duration
}

// LoginFailures is what the store remembers of one key's failed sign-ins. A key is what the
// server counts failures against: an account, or an account from one network or one browser.
type LoginFailures struct {
	Key string
	// Failures counts the failures of the window that opened at WindowStart; a lock resets it.
	Failures    int
	WindowStart time.Time
	// LockedUntil is when the last lock ends (zero if the key was never locked), LockLength
	// how long it lasts (the backoff doubles it).
	LockedUntil time.Time
	LockLength  time.Duration
}

// Locked reports whether the key is locked at now.
func (f *LoginFailures) Locked(now time.Time) bool { return now.Before(f.LockedUntil) }

// LockoutStore keeps failed sign-ins per key. Its records are small and expire by themselves: a
// record whose window has passed and whose lock has ended counts as none.
type LockoutStore interface {
	// GetLoginFailures returns the records of those of keys (a few) that have one, in any order.
	GetLoginFailures(ctx context.Context, keys []string) ([]*LoginFailures, error)
	// RecordLoginFailure counts one failed sign-in for key at now under p, in one atomic
	// statement: of any number of concurrent calls for one key, from any number of processes,
	// exactly the one making the p.Failures-th failure within the window locks the key. It
	// returns when that lock ends if this failure locked the key, else the zero time. A key
	// locked at now is left as it is: failures during a lock are not counted.
	RecordLoginFailure(ctx context.Context, key string, now time.Time, p LockoutPolicy) (lockedUntil time.Time, err error)
	// ClearLoginFailures deletes the records of those of keys that are not locked at now (after
	// a successful sign-in); a locked key keeps its lock and backoff.
	ClearLoginFailures(ctx context.Context, keys []string, now time.Time) error
	// DeleteStaleLoginFailures deletes the records whose window opened before windowCutoff and
	// whose last lock ended before lockCutoff, and returns how many it deleted.
	DeleteStaleLoginFailures(ctx context.Context, windowCutoff, lockCutoff time.Time) (int, error)
}
