package authserver

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// openStore opens a store on a fresh SQLite file.
func openStore(t testing.TB) store.Store {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestLimiterViewBounded: a flood of distinct spent keys (spoofed client IDs) keeps at most
// maxBuckets keys in the local view; a key the view dropped is still spent in the store, and
// the view learns it again from there.
func TestLimiterViewBounded(t *testing.T) {
	l := newLimiter("t/", 1, time.Minute, openStore(t), time.Now)
	ctx := t.Context()
	if counted, wait, err := l.take(ctx, "victim"); err != nil || !counted || wait <= 0 {
		t.Fatalf("one event of a budget of one: counted %v, wait %v, %v", counted, wait, err)
	}
	for i := range maxBuckets + 10 {
		if _, ok := l.learn("flood-"+strconv.Itoa(i), &store.RateCount{FullAt: time.Now().Add(time.Minute)}); !ok {
			t.Fatal("a spent key was not taken in")
		}
		if n := l.spent.len(); n > maxBuckets {
			t.Fatalf("%d keys in the view after %d", n, i+1)
		}
	}
	if _, ok := l.blocked("victim"); ok {
		t.Fatal("the view kept the first key through the flood")
	}
	if wait, ok, err := l.check(ctx, "victim"); err != nil || !ok || wait <= 0 {
		t.Fatalf("the store's count of the first key: blocked %v, wait %v, %v", ok, wait, err)
	}
	if _, ok := l.blocked("victim"); !ok {
		t.Fatal("the view did not learn the key from the store")
	}
}

// TestRateKeyIsShortText: a key a request chose (any bytes, any length) is a short printable
// name in the store, and a plain key cannot take the name of a hashed one.
func TestRateKeyIsShortText(t *testing.T) {
	long := strings.Repeat("x", 129)
	for _, v := range []string{long, "a\x00b", "é", "a b", "#abc"} {
		k := rateKey("client/", v)
		if len(k) > 60 || !strings.HasPrefix(k, "client/#") || k != rateKey("client/", v) {
			t.Errorf("rateKey(%q) = %q", v, k)
		}
	}
	if k := rateKey("client/", "mcp_abc"); k != "client/mcp_abc" {
		t.Errorf("a plain key became %q", k)
	}
	if rateKey("client/", long) == rateKey("client/", long+"y") {
		t.Error("two long keys share a name")
	}
}

// TestKnownClientAddrsBounded: successes from more addresses than the bound keep at most
// maxBuckets entries (the newest addresses then stay unknown here); once the entries are a day
// old, a success makes room again.
func TestKnownClientAddrsBounded(t *testing.T) {
	now := time.Now()
	k := &knownClientAddrs{st: openStore(t), now: func() time.Time { return now }}
	for i := range maxBuckets + 10 {
		if err := k.succeeded(t.Context(), "c", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := k.addrs.len(); n != maxBuckets || !k.known("c", "0") || k.known("c", strconv.Itoa(maxBuckets)) {
		t.Fatalf("%d entries; first known %v, one past the bound known %v", n, k.known("c", "0"), k.known("c", strconv.Itoa(maxBuckets)))
	}
	now = now.Add(knownClientAddrTTL)
	if err := k.succeeded(t.Context(), "c", "new"); err != nil {
		t.Fatal(err)
	}
	if n := k.addrs.len(); n != 1 || !k.known("c", "new") || k.known("c", "0") {
		t.Fatalf("after a day: %d entries", n)
	}
}

// BenchmarkGuardClientAuth is what guardClientAuth adds to a successful token request (compare
// with "unguarded", whose handler reads the form as the token endpoint does) from an address the
// client is known at, with no failure recorded and with failures of other clients and addresses
// recorded. Such a request asks the store nothing.
func BenchmarkGuardClientAuth(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // reads the form as /token does
		if readForm(w, r) == nil {
			w.WriteHeader(http.StatusOK)
		}
	})
	for _, tc := range []struct {
		name              string
		guarded, failures bool
	}{{"unguarded", false, false}, {"none-failed", true, false}, {"others-failed", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			st := openStore(b)
			s := &Server{cfg: Config{Now: time.Now}, store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			s.clientAuthLim = newLimiter("client/", 20, time.Minute, st, time.Now)
			s.clientAuthAddrLim = newLimiter("client-addr/", 60, time.Minute, st, time.Now)
			s.knownClientAddrs = &knownClientAddrs{st: st, now: time.Now}
			if tc.failures {
				s.clientAuthLim.learn("someone-else", &store.RateCount{FullAt: time.Now().Add(time.Hour)})
				s.clientAuthAddrLim.learn("198.51.100.1", &store.RateCount{FullAt: time.Now().Add(time.Hour)}) // not 192.0.2.1, httptest's
			}
			h := http.Handler(ok)
			if tc.guarded {
				h = s.guardClientAuth(ok, pathToken)
			}
			body := "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
			request := func() {
				req := httptest.NewRequest(http.MethodPost, pathToken, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("client", "secret")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			request() // the first from this address reads the store and marks it
			b.ReportAllocs()
			for b.Loop() {
				request()
			}
		})
	}
}

// countingStore counts the calls of CountRate.
type countingStore struct {
	store.Store
	counts atomic.Int64
}

func (c *countingStore) CountRate(ctx context.Context, key string, now time.Time, l store.RateLimit, n int) (store.RateCount, bool, error) {
	c.counts.Add(1)
	return c.Store.CountRate(ctx, key, now, l, n)
}

// TestLimiterLeases: a budget of 640 a minute is taken in leases of 10 events: one instance's
// events cost one store call per lease; two instances on one store admit exactly the budget
// between them at one moment (leases used up, then single events); a lease is not spent after
// the time its events take to refill (10 × 93 ms). Budgets below leaseShare×2 take no leases.
func TestLimiterLeases(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	clock := func() time.Time { return now }
	st := &countingStore{Store: openStore(t)}
	a := newLimiter("t/", 640, time.Minute, st, clock)
	b := newLimiter("t/", 640, time.Minute, st, clock)
	if a.lease != 10 || newLimiter("t/", 127, time.Minute, st, clock).lease > 1 {
		t.Fatalf("lease of 640: %d", a.lease)
	}
	if huge := newLimiter("t/", math.MaxInt, time.Minute, st, clock); huge.limit.Events != maxEvents {
		t.Fatalf("a budget of MaxInt: %d events", huge.limit.Events)
	} else if counted, wait, err := huge.take(ctx, "huge"); err != nil || !counted || wait != 0 {
		t.Fatalf("an event of the largest budget: counted %v, wait %v, %v", counted, wait, err)
	}
	st.counts.Store(0)
	take := func(l *limiter, key string) bool {
		counted, _, err := l.take(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return counted
	}
	for i := range 100 {
		if !take(a, "alone") {
			t.Fatalf("event %d refused", i+1)
		}
	}
	if n := st.counts.Load(); n != 10 {
		t.Fatalf("%d store calls for 100 events in leases of 10", n)
	}

	admitted := 0
	for i := range 700 {
		if take([]*limiter{a, b}[i%2], "shared") {
			admitted++
		}
	}
	if admitted != 640 {
		t.Fatalf("two instances admitted %d events of a budget of 640 at one moment", admitted)
	}

	st.counts.Store(0)
	take(a, "expiring") // a lease of 10, spendable for 10 × 93 ms
	now = now.Add(10 * 93 * time.Millisecond)
	take(a, "expiring")
	if n := st.counts.Load(); n != 2 {
		t.Fatalf("%d store calls: an expired lease was spent", n)
	}
}

// FuzzRateKey: whatever a request sends as a client ID, its name in the store is short valid
// printable ASCII (PostgreSQL text takes it as a key), the same every time, and a value kept
// as it is names no other value.
func FuzzRateKey(f *testing.F) {
	for _, seed := range []string{"mcp_abc", "", "#x", "a b", strings.Repeat("é", 100), "https://client.example/id\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		k := rateKey("client/", v)
		if len(k) > len("client/")+128 || k != rateKey("client/", v) {
			t.Fatalf("rateKey(%q) = %q", v, k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] <= ' ' || k[i] >= 0x7f {
				t.Fatalf("rateKey(%q) = %q holds byte %#x", v, k, k[i])
			}
		}
		if k == "client/"+v && strings.HasPrefix(v, "#") {
			t.Fatalf("the value %q is kept as it is and may name a hashed one", v)
		}
	})
}

// TestJanitorDeletesExpiredRateCounts: a janitor round keeps a spent budget and a client's
// address mark while they hold, and deletes them, here and in the store, once they have passed.
func TestJanitorDeletesExpiredRateCounts(t *testing.T) {
	st := openStore(t)
	var at atomic.Int64 // the clock, read by the janitor's goroutine too: two days ago, behind the wall clock throughout
	at.Store(time.Now().Add(-48 * time.Hour).UnixMilli())
	clock := func() time.Time { return time.UnixMilli(at.Load()) }
	s, err := New(t.Context(), Config{
		Issuer: "https://as.example.com", Store: st, KeyEncryptionKey: make([]byte, keySize),
		Resources: []Resource{{URI: "https://mcp.example.com"}}, ClientAuthFailuresPerClient: 1,
		Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.knownClientAddrs.succeeded(ctx, "c1", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := s.clientAuthFailed(ctx, "c2", "192.0.2.2", false); err != nil {
		t.Fatal(err)
	}
	keys := []string{rateKey("client/", "c2"), s.knownClientAddrs.key("c1", "192.0.2.1")}
	records := func() int {
		recs, err := st.GetRateCounts(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	s.sweep(ctx)
	if n := records(); n != 2 {
		t.Fatalf("%d records after a round while both hold", n)
	}
	if _, ok := s.clientAuthLim.blocked("c2"); !ok {
		t.Fatal("the spent budget left the local view while it holds")
	}
	at.Add(time.Minute.Milliseconds()) // the budget of one a minute is whole again
	s.sweep(ctx)
	if n := records(); n != 1 || s.clientAuthLim.spent.len() != 0 {
		t.Fatalf("%d records, %d keys in the view after the budget refilled, want the mark only", n, s.clientAuthLim.spent.len())
	}
	at.Add(knownClientAddrTTL.Milliseconds())
	s.sweep(ctx)
	if n := records(); n != 0 || s.knownClientAddrs.addrs.len() != 0 {
		t.Fatalf("%d records, %d known addresses after the mark passed", n, s.knownClientAddrs.addrs.len())
	}
}
