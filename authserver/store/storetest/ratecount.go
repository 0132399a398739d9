package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// threePerMinute is the limit of the rate count tests: one event per 20 s, bursts of three.
var threePerMinute = store.RateLimit{Events: 3, Period: time.Minute}

// count counts an event of key at at and returns the record and whether it was counted.
func count(t *testing.T, s store.Store, key string, at time.Time, l store.RateLimit) (store.RateCount, bool) {
	t.Helper()
	rc, counted, err := s.CountRate(ctx, key, at, l, 1)
	must(t, err)
	return rc, counted
}

// testRateCounts: a budget takes exactly Events events at once, then none until one interval
// has refilled; a whole budget after Period; keys are independent; marks are extended only
// forward and deleted on request; expired records are deleted. Concurrent events never overdraw.
func testRateCounts(t *testing.T, s store.Store) {
	t0 := now()
	for i := range 3 {
		rc, counted := count(t, s, "k1", t0, threePerMinute)
		equal(t, "event within the budget", [2]any{counted, rc.FullAt}, [2]any{true, t0.Add(time.Duration(i+1) * 20 * time.Second)})
	}
	rc, counted := count(t, s, "k1", t0, threePerMinute)
	equal(t, "event beyond the budget", [2]any{counted, rc.FullAt}, [2]any{false, t0.Add(time.Minute)})
	equal(t, "count and wait of a spent budget", [2]any{rc.Count(t0, threePerMinute), rc.Wait(t0, threePerMinute)}, [2]any{3, 20 * time.Second})
	if _, counted := count(t, s, "k1", t0.Add(20*time.Second-time.Millisecond), threePerMinute); counted {
		t.Fatal("an event counted before one interval refilled")
	}
	rc, counted = count(t, s, "k1", t0.Add(20*time.Second), threePerMinute)
	equal(t, "event after one interval", [2]any{counted, rc.FullAt}, [2]any{true, t0.Add(80 * time.Second)})
	if _, counted := count(t, s, "k1", t0.Add(20*time.Second), threePerMinute); counted {
		t.Fatal("a second event counted after one interval")
	}
	// Whole again at FullAt: three more at once.
	t1 := t0.Add(80 * time.Second)
	equal(t, "count of a whole budget", rc.Count(t1, threePerMinute), 0)
	for range 3 {
		if _, counted := count(t, s, "k1", t1, threePerMinute); !counted {
			t.Fatal("an event of a whole budget was not counted")
		}
	}
	// Another key and another limit are independent.
	one := store.RateLimit{Events: 1, Period: time.Hour}
	rc, counted = count(t, s, "k2", t1, one)
	equal(t, "first event of another key", [2]any{counted, rc.FullAt}, [2]any{true, t1.Add(time.Hour)})
	recs, err := s.GetRateCounts(ctx, []string{"k1", "k2", "unknown"})
	must(t, err)
	equal(t, "records of three keys", len(recs), 2)

	// Marks: extended only forward, deleted on request.
	must(t, s.ExtendRateCount(ctx, "mark", t0.Add(time.Hour)))
	must(t, s.ExtendRateCount(ctx, "mark", t0.Add(time.Minute)))
	recs, err = s.GetRateCounts(ctx, []string{"mark"})
	must(t, err)
	equal(t, "a mark after extending it backwards", recs, []*store.RateCount{{Key: "mark", FullAt: t0.Add(time.Hour)}})
	must(t, s.ExtendRateCount(ctx, "mark", t0.Add(2*time.Hour)))
	recs, err = s.GetRateCounts(ctx, []string{"mark"})
	must(t, err)
	equal(t, "a mark extended", recs[0].FullAt, t0.Add(2*time.Hour))
	must(t, s.DeleteRateCounts(ctx, []string{"mark", "unknown"}))
	recs, err = s.GetRateCounts(ctx, []string{"mark"})
	must(t, err)
	equal(t, "records of a deleted mark", len(recs), 0)

	// Expired: k1 is whole at t1+60s, k2 at t1+1h.
	n, err := s.DeleteExpiredRateCounts(ctx, t1.Add(time.Minute-time.Millisecond))
	must(t, err)
	equal(t, "deleted before any record is whole", n, 0)
	n, err = s.DeleteExpiredRateCounts(ctx, t1.Add(time.Minute))
	must(t, err)
	equal(t, "deleted when k1 is whole", n, 1)
	recs, err = s.GetRateCounts(ctx, []string{"k1", "k2"})
	must(t, err)
	equal(t, "the record left", recs, []*store.RateCount{{Key: "k2", FullAt: t1.Add(time.Hour)}})

	// Several events at once: counted only when the budget has room for all of them.
	ten := store.RateLimit{Events: 10, Period: 10 * time.Second} // one a second
	for _, tc := range []struct {
		n       int
		counted bool
		fullAt  time.Duration
	}{{4, true, 4}, {4, true, 8}, {4, false, 8}, {2, true, 10}, {1, false, 10}} {
		rc, counted, err := s.CountRate(ctx, "k3", t0, ten, tc.n)
		must(t, err)
		equal(t, fmt.Sprintf("%d events at once", tc.n), [2]any{counted, rc.FullAt}, [2]any{tc.counted, t0.Add(tc.fullAt * time.Second)})
	}

	t.Run("Concurrent", func(t *testing.T) { RateCountsAcrossStores(t, s, s) })
}

// RateCountsAcrossStores is the concurrency case of the rate counts for two stores on one
// database (two server instances, or two processes on one SQLite file): of 3×n events of one
// key sent at once, alternately through a and b, exactly n are counted, and the record is
// exactly n intervals ahead. Implementations run it with two handles on one database.
func RateCountsAcrossStores(t *testing.T, a, b store.Store) {
	const n = 12
	l := store.RateLimit{Events: n, Period: time.Hour}
	t0 := now()
	counted := make([]bool, 3*n)
	errs := make([]error, 3*n)
	var wg sync.WaitGroup
	for i := range 3 * n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { _, counted[i], errs[i] = s.CountRate(ctx, "shared", t0, l, 1) })
	}
	wg.Wait()
	k := 0
	for i := range 3 * n {
		must(t, errs[i])
		if counted[i] {
			k++
		}
	}
	equal(t, "events counted of 3n sent at once", k, n)
	for _, s := range []store.Store{a, b} {
		recs, err := s.GetRateCounts(ctx, []string{"shared"})
		must(t, err)
		equal(t, "record after n counted events", recs, []*store.RateCount{{Key: "shared", FullAt: t0.Add(time.Duration(n) * l.Interval())}})
	}
}
