package storetest

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// lockPolicy locks a key for 15 minutes after 3 failures within 10 minutes, doubling up to an hour.
var lockPolicy = store.LockoutPolicy{Failures: 3, Window: 10 * time.Minute, Lock: 15 * time.Minute, MaxLock: time.Hour}

// fail records a failure of key at at and returns when the lock it caused ends (zero: none).
func fail(t *testing.T, s store.Store, key string, at time.Time, p store.LockoutPolicy) time.Time {
	t.Helper()
	until, err := s.RecordLoginFailure(ctx, key, at, p)
	must(t, err)
	return until
}

// failures returns key's record, or nil.
func failures(t *testing.T, s store.Store, key string) *store.LoginFailures {
	t.Helper()
	recs, err := s.GetLoginFailures(ctx, []string{key})
	must(t, err)
	if len(recs) == 0 {
		return nil
	}
	return recs[0]
}

// testLoginFailures: counting within the window, the lock at exactly Failures, no counting while
// locked, the doubling backoff and its cap, a fresh start after a quiet MaxLock, clearing (never
// of a locked key) and the deletion of stale records.
func testLoginFailures(t *testing.T, s store.Store) {
	t0 := now()
	for i, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if until := fail(t, s, "u1", at, lockPolicy); !until.IsZero() {
			t.Fatalf("failure %d locked until %v", i+1, until)
		}
	}
	equal(t, "record after 2 failures", failures(t, s, "u1"), &store.LoginFailures{Key: "u1", Failures: 2, WindowStart: t0})
	equal(t, "lock at the 3rd failure", fail(t, s, "u1", t0.Add(2*time.Minute), lockPolicy), t0.Add(17*time.Minute))
	// While locked: nothing is counted, nothing cleared.
	equal(t, "a failure while locked", fail(t, s, "u1", t0.Add(3*time.Minute), lockPolicy), time.Time{})
	must(t, s.ClearLoginFailures(ctx, []string{"u1"}, t0.Add(4*time.Minute)))
	f := failures(t, s, "u1")
	if f == nil || !f.Locked(t0.Add(16*time.Minute)) || f.Locked(t0.Add(17*time.Minute)) || f.Failures != 0 || f.LockLength != 15*time.Minute {
		t.Fatalf("locked record: %+v", f)
	}
	// Each further lock doubles, up to MaxLock.
	at := t0.Add(17 * time.Minute)
	for _, want := range []time.Duration{30 * time.Minute, time.Hour, time.Hour} {
		fail(t, s, "u1", at, lockPolicy)
		fail(t, s, "u1", at, lockPolicy)
		equal(t, "next lock", fail(t, s, "u1", at, lockPolicy), at.Add(want))
		at = at.Add(want)
	}
	// Quiet for MaxLock after the last lock: the backoff starts afresh.
	at = at.Add(time.Hour)
	fail(t, s, "u1", at, lockPolicy)
	fail(t, s, "u1", at, lockPolicy)
	equal(t, "lock after a quiet hour", fail(t, s, "u1", at, lockPolicy), at.Add(15*time.Minute))

	// Failures further apart than the window never lock.
	for i := range 5 {
		if until := fail(t, s, "u2", t0.Add(time.Duration(i)*6*time.Minute), lockPolicy); !until.IsZero() {
			t.Fatalf("failures 6 minutes apart locked at the %d-th", i+1)
		}
	}
	// A successful sign-in clears an unlocked key.
	must(t, s.ClearLoginFailures(ctx, []string{"u2", "unknown"}, t0.Add(time.Hour)))
	equal(t, "record after clearing", failures(t, s, "u2"), (*store.LoginFailures)(nil))
	// One failure locks under a policy of one.
	one := store.LockoutPolicy{Failures: 1, Window: time.Minute, Lock: time.Minute, MaxLock: time.Minute}
	equal(t, "lock at the first failure", fail(t, s, "u3", t0, one), t0.Add(time.Minute))

	recs, err := s.GetLoginFailures(ctx, []string{"u1", "u3", "unknown"})
	must(t, err)
	equal(t, "records of three keys", len(recs), 2)

	// Stale: window passed and lock ended before the cutoffs. u1's last lock ends at+15m.
	fail(t, s, "u4", at.Add(time.Hour), lockPolicy)
	n, err := s.DeleteStaleLoginFailures(ctx, at.Add(time.Hour), at.Add(16*time.Minute))
	must(t, err)
	equal(t, "stale records deleted (u1, u3)", n, 2)
	if failures(t, s, "u1") != nil || failures(t, s, "u4") == nil {
		t.Fatal("DeleteStaleLoginFailures deleted the wrong records")
	}
	t.Run("Model", func(t *testing.T) { testLoginFailuresModel(t, s) }) // on keys of its own
}

// testLoginFailuresConcurrent: concurrent failures of one key lose no count, and of more
// failures than the policy's, exactly one locks the key.
func testLoginFailuresConcurrent(t *testing.T, s store.Store) {
	const n = 12
	p := store.LockoutPolicy{Failures: n, Window: time.Hour, Lock: time.Hour, MaxLock: time.Hour}
	t0 := now()
	locks := func(k int) int {
		var wg sync.WaitGroup
		until := make([]time.Time, k)
		errs := make([]error, k)
		for i := range k {
			wg.Go(func() { until[i], errs[i] = s.RecordLoginFailure(ctx, "victim", t0, p) })
		}
		wg.Wait()
		locked := 0
		for i := range k {
			must(t, errs[i])
			if !until[i].IsZero() {
				locked++
			}
		}
		return locked
	}
	equal(t, "locks after n-1 concurrent failures", locks(n-1), 0)
	equal(t, "failures counted", failures(t, s, "victim").Failures, n-1)
	must(t, s.ClearLoginFailures(ctx, []string{"victim"}, t0))
	equal(t, "locks among 3n concurrent failures", locks(3*n), 1)
	if f := failures(t, s, "victim"); !f.Locked(t0) {
		t.Fatalf("not locked after 3n failures: %+v", f)
	}
}

// lockModel is the lockout a LockoutStore must implement, written out plainly: the reference
// testLoginFailuresModel holds the store to.
type lockModel struct {
	failures                 int
	windowStart, lockedUntil time.Time
	lock                     time.Duration // the length of the last lock
}

// record is RecordLoginFailure on the model; m is nil for a key without a record.
func (m *lockModel) record(now time.Time, p store.LockoutPolicy) (*lockModel, time.Time) {
	switch {
	case m == nil:
		m = &lockModel{windowStart: now}
	case now.Before(m.lockedUntil):
		return m, time.Time{}
	case !m.windowStart.After(now.Add(-p.Window)): // the window has passed
		m = &lockModel{windowStart: now, lockedUntil: m.lockedUntil, lock: m.lock}
	}
	next := *m
	next.failures++
	if next.failures < p.Failures {
		return &next, time.Time{}
	}
	length := p.Lock
	if m.lock != 0 && m.lockedUntil.After(now.Add(-p.MaxLock)) {
		length = min(2*m.lock, p.MaxLock)
	}
	next.failures, next.lock, next.lockedUntil = 0, length, now.Add(length)
	return &next, next.lockedUntil
}

// testLoginFailuresModel: a long random run of failures and successful sign-ins on a few keys,
// spread over hours, gives at every step the lock decisions and records of lockModel.
func testLoginFailuresModel(t *testing.T, s store.Store) {
	p := store.LockoutPolicy{Failures: 3, Window: 10 * time.Minute, Lock: 5 * time.Minute, MaxLock: 40 * time.Minute}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"k1", "k2", "k3"}
	model := map[string]*lockModel{}
	lengths := map[time.Duration]int{} // locks by length, so the run is known to cover the backoff
	t0 := now()
	at := t0
	for step := range 400 {
		at = at.Add(time.Duration(rng.IntN(240)) * time.Second)
		key := keys[rng.IntN(len(keys))]
		if rng.IntN(8) == 0 {
			must(t, s.ClearLoginFailures(ctx, []string{key}, at))
			if m := model[key]; m != nil && !at.Before(m.lockedUntil) {
				delete(model, key)
			}
		} else {
			got := fail(t, s, key, at, p)
			var want time.Time
			model[key], want = model[key].record(at, p)
			if !got.Equal(want) {
				t.Fatalf("step %d, failure of %s at +%v: locked until %v, want %v", step, key, at.Sub(t0), got, want)
			}
			if !want.IsZero() {
				lengths[want.Sub(at)]++
			}
		}
		f, m := failures(t, s, key), model[key]
		if (f == nil) != (m == nil) || f != nil && (f.Failures != m.failures || !f.LockedUntil.Equal(m.lockedUntil) || f.LockLength != m.lock || f.Locked(at) != at.Before(m.lockedUntil)) {
			t.Fatalf("step %d: record of %s %+v, model %+v", step, key, f, m)
		}
	}
	if len(lengths) != 4 { // 5, 10, 20 and 40 minutes
		t.Fatalf("locks by length %v: the run does not cover the backoff", lengths)
	}
}
