package authserver

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKeyLimiterBounded: a flood of distinct keys (spoofed client IDs) keeps at most
// maxBuckets buckets, and a spent key stays spent while it can.
func TestKeyLimiterBounded(t *testing.T) {
	l := newKeyLimiter(1, time.Minute, time.Now)
	if !l.take("victim") {
		t.Fatal("one failure did not spend a budget of one")
	}
	for i := range 3 * maxBuckets {
		l.take("flood-" + strconv.Itoa(i))
		if n := l.n.Load(); n > maxBuckets {
			t.Fatalf("%d buckets after %d keys", n, i+1)
		}
	}
	if _, ok := l.blocked("flood-" + strconv.Itoa(3*maxBuckets-1)); !ok {
		t.Fatal("the latest spent key is not blocked")
	}
}

// TestKnownClientAddrsBounded: successes from more addresses than the bound keep at most
// maxBuckets entries (the newest addresses then stay unknown); once the entries are a day old,
// a success makes room again.
func TestKnownClientAddrsBounded(t *testing.T) {
	now := time.Now()
	k := &knownClientAddrs{now: func() time.Time { return now }}
	for i := range maxBuckets + 10 {
		k.succeeded("c", strconv.Itoa(i))
	}
	if n := k.n.Load(); n != maxBuckets || !k.known("c", "0") || k.known("c", strconv.Itoa(maxBuckets)) {
		t.Fatalf("%d entries; first known %v, one past the bound known %v", n, k.known("c", "0"), k.known("c", strconv.Itoa(maxBuckets)))
	}
	now = now.Add(knownClientAddrTTL)
	k.succeeded("c", "new")
	if n := k.n.Load(); n != 1 || !k.known("c", "new") || k.known("c", "0") {
		t.Fatalf("after a day: %d entries", n)
	}
}

// BenchmarkGuardClientAuth is what guardClientAuth adds to a successful token request (compare
// with "unguarded"), with no failure recorded and with failures of other clients and
// addresses recorded (then the guard reads the form the handler would read anyway).
func BenchmarkGuardClientAuth(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name              string
		guarded, failures bool
	}{{"unguarded", false, false}, {"none-failed", true, false}, {"others-failed", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := &Server{cfg: Config{Now: time.Now}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			s.clientAuthLim = newKeyLimiter(20, time.Minute, time.Now)
			s.clientAuthAddrLim = newKeyLimiter(60, time.Minute, time.Now)
			if tc.failures {
				s.clientAuthLim.take("someone-else")
				s.clientAuthAddrLim.take("192.0.2.1")
			}
			h := http.Handler(ok)
			if tc.guarded {
				h = s.guardClientAuth(ok, pathToken)
			}
			body := "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, pathToken, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("client", "secret")
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
