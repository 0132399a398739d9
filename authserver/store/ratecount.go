// Rate limits shared by every instance on a store (RFC 6749 §10.10, RFC 9700 §4: limits on
// guessing; RFC 7591 §5: registration floods): one budget of events per key, kept as a token
// bucket in a single time per key (the generic cell rate algorithm, ITU-T I.371 §4.4.2).
package store

import (
	"context"
	"time"
)

// RateLimit allows Events events per Period per key, in bursts of up to Events: each event
// takes Interval of the budget, which refills continuously. Events must be at least 1.
type RateLimit struct {
	Events int
	Period time.Duration
}

// Interval is the budget one event takes: Period/Events, in whole milliseconds (the store's
// precision), at least one.
func (l RateLimit) Interval() time.Duration {
	return max((l.Period / time.Duration(l.Events)).Truncate(time.Millisecond), time.Millisecond)
}

// RateCount is what the store keeps of one key: the time FullAt at which its budget is whole
// again. Each counted event moves FullAt on by the limit's Interval from FullAt or from now,
// whichever is later; a FullAt in the past is a whole budget. FullAt only ever moves forward,
// so a budget seen spent stays spent until its time.
type RateCount struct {
	Key    string
	FullAt time.Time
}

// Count is how many of l's events the budget holds at now, 0 to l.Events.
func (c *RateCount) Count(now time.Time, l RateLimit) int {
	lead := c.FullAt.Sub(now)
	if lead <= 0 {
		return 0
	}
	i := l.Interval()
	return int((lead + i - 1) / i)
}

// Wait is how long after now the budget has room for one more of l's events; 0 when it has.
func (c *RateCount) Wait(now time.Time, l RateLimit) time.Duration {
	return max(c.FullAt.Sub(now)-time.Duration(l.Events-1)*l.Interval(), 0)
}

// RateCountStore keeps one RateCount per key. A record whose FullAt has passed counts as none.
// A key may also serve as a mark that holds until a time (the server marks the addresses a
// client authenticated from): ExtendRateCount sets it, DeleteRateCounts removes it.
type RateCountStore interface {
	// CountRate counts n events (1 to l.Events) of key at now against l if the key's budget has
	// room for all of them, in one atomic statement: of any number of concurrent calls for one
	// key, from any number of processes, exactly as many events are counted as the budget has
	// room for (calls of n events each: as many calls as it has room for n). It returns the
	// record after the call and whether the events were counted.
	CountRate(ctx context.Context, key string, now time.Time, l RateLimit, n int) (rc RateCount, counted bool, err error)
	// GetRateCounts returns the records of those of keys (a few) that have one, in any order.
	GetRateCounts(ctx context.Context, keys []string) ([]*RateCount, error)
	// ExtendRateCount sets key's FullAt to until, unless it is later already.
	ExtendRateCount(ctx context.Context, key string, until time.Time) error
	// DeleteRateCounts deletes the records of keys; a key without one is not an error.
	DeleteRateCounts(ctx context.Context, keys []string) error
	// DeleteExpiredRateCounts deletes the records whose FullAt is now or before, and returns
	// how many it deleted.
	DeleteExpiredRateCounts(ctx context.Context, now time.Time) (int, error)
}
