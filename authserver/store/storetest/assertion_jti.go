package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// testClientAssertions: a (client, jti) is used once while its record is kept; the same jti of
// another client is another assertion; a record kept until now or before counts as none and is
// what DeleteExpiredClientAssertions deletes. Of 32 concurrent uses of one jti, one succeeds.
func testClientAssertions(t *testing.T, s store.Store) {
	t0 := now()
	keep := t0.Add(10 * time.Minute)
	must(t, s.UseClientAssertion(ctx, "c1", "j1", keep, t0))
	wantErr(t, "replay", s.UseClientAssertion(ctx, "c1", "j1", keep, t0.Add(time.Minute)), store.ErrAlreadyUsed)
	wantErr(t, "replay just before the record ends", s.UseClientAssertion(ctx, "c1", "j1", keep.Add(time.Hour), keep.Add(-time.Millisecond)), store.ErrAlreadyUsed)
	must(t, s.UseClientAssertion(ctx, "c2", "j1", keep, t0))
	must(t, s.UseClientAssertion(ctx, "c1", "j2", t0.Add(time.Minute), t0))

	// j2's record ends at t0+1m: a use then takes it over, until t0+20m.
	wantErr(t, "replay before the record ends", s.UseClientAssertion(ctx, "c1", "j2", t0.Add(20*time.Minute), t0.Add(time.Minute-time.Millisecond)), store.ErrAlreadyUsed)
	must(t, s.UseClientAssertion(ctx, "c1", "j2", t0.Add(20*time.Minute), t0.Add(time.Minute)))
	wantErr(t, "replay of the new use", s.UseClientAssertion(ctx, "c1", "j2", t0.Add(20*time.Minute), t0.Add(15*time.Minute)), store.ErrAlreadyUsed)

	n, err := s.DeleteExpiredClientAssertions(ctx, keep.Add(-time.Millisecond))
	must(t, err)
	equal(t, "deleted before any record ends", n, 0)
	n, err = s.DeleteExpiredClientAssertions(ctx, keep)
	must(t, err)
	equal(t, "deleted when c1/j1 and c2/j1 end", n, 2)
	must(t, s.UseClientAssertion(ctx, "c1", "j1", keep.Add(time.Minute), t0)) // forgotten: the caller's exp check guards it
	wantErr(t, "c1/j2 still kept", s.UseClientAssertion(ctx, "c1", "j2", keep, t0), store.ErrAlreadyUsed)

	t.Run("Concurrent", func(t *testing.T) {
		const n = 32
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = s.UseClientAssertion(ctx, "c3", "one-jti", keep, t0) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				wantErr(t, "concurrent replay", err, store.ErrAlreadyUsed)
			}
		}
		equal(t, "concurrent uses that succeeded", ok, 1)
	})
}
