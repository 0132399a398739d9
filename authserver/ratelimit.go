// Limits against floods and brute force (RFC 6749 §10.10, RFC 9700 §4, RFC 7591 §5, the MCP
// security considerations): per-source-address rate limits on the costly unauthenticated
// endpoints and a budget of failed client authentications per client and per address (the
// per-account login lockout is lockout.go).
package authserver

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter keeps a token bucket per key (a source address or a client ID). Looking a key up
// takes no lock (sync.Map), so a check on a hot path costs one map lookup; only creating a
// bucket takes the limiter's mutex. A nil *keyLimiter allows everything.
type keyLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex   // serialises bucket creation and eviction
	n       atomic.Int64 // number of buckets
	buckets sync.Map     // key → *rate.Limiter
}

// newKeyLimiter allows n events per period per key, in bursts of n, on the clock now; n < 0
// means no limit.
func newKeyLimiter(n int, per time.Duration, now func() time.Time) *keyLimiter {
	if n < 0 {
		return nil
	}
	return &keyLimiter{limit: rate.Limit(float64(n) / per.Seconds()), burst: n, now: now}
}

// maxBuckets bounds the memory of a limiter; when it is full, buckets that have refilled are
// dropped (they would allow a full burst anyway).
const maxBuckets = 10000

// bucket returns the key's bucket, creating it if needed.
func (l *keyLimiter) bucket(key string) *rate.Limiter {
	if b, ok := l.buckets.Load(key); ok {
		return b.(*rate.Limiter)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets.Load(key); ok {
		return b.(*rate.Limiter)
	}
	if l.n.Load() >= maxBuckets {
		l.prune()
		if l.n.Load() >= maxBuckets { // a flood of keys: start over
			l.buckets.Clear()
			l.n.Store(0)
		}
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets.Store(key, b)
	l.n.Add(1)
	return b
}

// prune drops the buckets that have refilled. The caller holds l.mu.
func (l *keyLimiter) prune() {
	now := l.now()
	l.buckets.Range(func(k, v any) bool {
		if v.(*rate.Limiter).TokensAt(now) >= float64(l.burst) {
			l.buckets.Delete(k)
			l.n.Add(-1)
		}
		return true
	})
}

// sweep drops refilled buckets; the janitor calls it.
func (l *keyLimiter) sweep() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune()
}

// allow reports whether key may make one more request now, and counts it.
func (l *keyLimiter) allow(key string) bool {
	if l == nil {
		return true
	}
	return l.bucket(key).AllowN(l.now(), 1)
}

// take counts one event for key and reports whether that emptied its budget (the key was
// not blocked before and is now).
func (l *keyLimiter) take(key string) (blockedNow bool) {
	if l == nil {
		return false
	}
	now := l.now()
	b := l.bucket(key)
	return b.AllowN(now, 1) && b.TokensAt(now) < 1
}

// blocked reports whether key has no budget left, and how long until it has. It creates
// nothing: a key without a bucket is not blocked.
func (l *keyLimiter) blocked(key string) (time.Duration, bool) {
	if l == nil || l.n.Load() == 0 {
		return 0, false
	}
	v, ok := l.buckets.Load(key)
	if !ok {
		return 0, false
	}
	tokens := v.(*rate.Limiter).TokensAt(l.now())
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second)), true
}

// guardClientAuth protects the endpoints that authenticate clients (token, revocation,
// introspection, device authorization) against guessing of client secrets: each failed client
// authentication (a 401 invalid_client answer) spends the budget of its client_id and of its
// source address; while either is spent, requests get 429 invalid_client with Retry-After,
// without their credentials being checked, so a right guess is not recognised either. A
// request that is not refused pays a lookup of its path, an atomic load per limiter while no
// authentication has failed lately (two map lookups after) and a small response wrapper.
func (s *Server) guardClientAuth(next http.Handler, paths ...string) http.Handler {
	byClient, byAddr := s.clientAuthLim, s.clientAuthAddrLim
	if byClient == nil && byAddr == nil {
		return next
	}
	guarded := map[string]bool{}
	for _, p := range paths {
		guarded[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !guarded[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		addr := s.clientAddr(r)
		if wait, ok := byAddr.blocked(addr); ok {
			s.tooManyClientAuthFailures(w, wait)
			return
		}
		if byClient != nil && byClient.n.Load() > 0 {
			// The client's ID may be in the form: read it now (the handler finds it read).
			if e := readForm(w, r); e != nil {
				writeError(w, r, e)
				return
			}
			if wait, ok := byClient.blocked(requestClientID(r)); ok {
				s.tooManyClientAuthFailures(w, wait)
				return
			}
		}
		watch := &authFailureWatch{ResponseWriter: w}
		next.ServeHTTP(watch, r)
		if !watch.failed {
			return
		}
		if byAddr.take(addr) {
			s.audit(r.Context(), "client_auth.locked", "remote", addr, "reason", "too many failed client authentications from this address")
		}
		if id := requestClientID(r); id != "" && byClient.take(id) {
			s.audit(r.Context(), "client_auth.locked", "client_id", logID(id), "remote", addr, "reason", "too many failed client authentications for this client")
		}
	})
}

// tooManyClientAuthFailures answers a request refused by guardClientAuth.
func (s *Server) tooManyClientAuthFailures(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	writeJSON(w, http.StatusTooManyRequests, newError(errInvalidClient, "too many failed client authentications; try again later"))
}

// requestClientID is the client_id a token-endpoint style request claims: the Basic user, the
// form's client_id, or the sub of a client assertion. The form must have been read.
func requestClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return u
		}
		return id
	}
	if id := r.PostForm.Get("client_id"); id != "" {
		return id
	}
	if a := r.PostForm.Get("client_assertion"); a != "" {
		id, _ := assertionClientID(a)
		return id
	}
	return ""
}

// authFailureWatch notes whether a handler answered 401, a failed client authentication
// (RFC 6749 §5.2 invalid_client).
type authFailureWatch struct {
	http.ResponseWriter
	failed bool
}

func (w *authFailureWatch) WriteHeader(code int) {
	w.failed = w.failed || code == http.StatusUnauthorized
	w.ResponseWriter.WriteHeader(code)
}

func (w *authFailureWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientAddr returns the address of the client that sent r: the connection's peer, or, when
// the peer is one of Config.TrustedProxies, the nearest X-Forwarded-For hop that is not.
func (s *Server) clientAddr(r *http.Request) string {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if !s.trustedProxy(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			return addr // a malformed hop: trust nothing beyond the proxy
		}
		addr = hop
		if !s.trustedProxy(hop) {
			break
		}
	}
	return addr
}

func (s *Server) trustedProxy(addr string) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
