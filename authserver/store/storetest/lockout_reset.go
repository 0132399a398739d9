package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// testDeleteLoginFailures: an operator's delete takes the records, locked or not, whose key is
// one of the keys given or begins with one of the prefixes, taken literally (no pattern
// characters), and no other.
func testDeleteLoginFailures(t *testing.T, s store.Store) {
	t0 := now()
	lockAtOnce := store.LockoutPolicy{Failures: 1, Window: time.Hour, Lock: time.Hour, MaxLock: time.Hour}
	keys := []string{"account:u1", "account:u10", "network:u1/203.0.113.7", "network:u1/2001:db8::/64", "browser:u1/d1",
		"network:u10/203.0.113.7", "network:u%_/x", "network:uX_/x"}
	for i, k := range keys {
		p := lockAtOnce
		if i%2 == 1 {
			p.Failures = 5 // counted, not locked
		}
		_, err := s.RecordLoginFailure(ctx, k, t0, p)
		must(t, err)
	}
	remaining := func() []string {
		recs, err := s.GetLoginFailures(ctx, keys)
		must(t, err)
		var out []string
		for _, f := range recs {
			out = append(out, f.Key)
		}
		slices.Sort(out)
		return out
	}

	n, err := s.DeleteLoginFailures(ctx, nil, nil)
	must(t, err)
	equal(t, "deleted with nothing to match", n, 0)
	n, err = s.DeleteLoginFailures(ctx, []string{"account:u1"}, []string{"network:u1/", "browser:u1/"})
	must(t, err)
	equal(t, "deleted of u1", n, 4)
	equal(t, "left", remaining(), []string{"account:u10", "network:u%_/x", "network:u10/203.0.113.7", "network:uX_/x"})
	n, err = s.DeleteLoginFailures(ctx, nil, []string{"network:u%_/"})
	must(t, err)
	equal(t, "deleted by a prefix with LIKE's wildcards", n, 1)
	n, err = s.DeleteLoginFailures(ctx, []string{"account:u10", "no such key"}, nil)
	must(t, err)
	equal(t, "deleted by key", n, 1)
	equal(t, "left at the end", remaining(), []string{"network:u10/203.0.113.7", "network:uX_/x"})
}
