// Client assertions accepted once across every instance sharing the store: RFC 7523 §3 item 7
// (the server may ensure that a JWT is not replayed by keeping its "jti" until it expires) and
// RFC 7521 §5.2.
package store

import (
	"context"
	"time"
)

// AssertionStore remembers the client assertions (private_key_jwt) the server accepted, by the
// client's ID and the assertion's jti.
type AssertionStore interface {
	// UseClientAssertion records the assertion jti of clientID as used, kept until keepUntil
	// (when the assertion can no longer be accepted), in one atomic statement: of any number
	// of concurrent calls for one clientID and jti, from any number of processes, exactly one
	// returns nil; the others, and every later call while the record is kept at now, return
	// ErrAlreadyUsed. A record kept until now or before counts as none.
	UseClientAssertion(ctx context.Context, clientID, jti string, keepUntil, now time.Time) error
	// DeleteExpiredClientAssertions deletes the records kept until now or before, and returns
	// how many it deleted.
	DeleteExpiredClientAssertions(ctx context.Context, now time.Time) (int, error)
}
