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
// without their credentials being checked, so a right guess is not recognised either. The
// client's spent budget does not refuse an address the client authenticated from lately
// without failing since (knownClientAddrs), so that guesses from elsewhere do not lock the client
// out where it runs. A request that is not refused pays a lookup of its path, an atomic load per
// limiter while no authentication has failed lately (two map lookups after), a small response
// wrapper and, when it succeeds, a lookup of its client and address.
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
			id := requestClientID(r)
			if wait, ok := byClient.blocked(id); ok && !s.knownClientAddrs.known(id, addr) {
				s.tooManyClientAuthFailures(w, wait)
				return
			}
		}
		watch := &authFailureWatch{ResponseWriter: w}
		next.ServeHTTP(watch, r)
		if watch.status == http.StatusOK {
			s.knownClientAddrs.succeeded(requestClientID(r), addr)
			return
		}
		if watch.status != http.StatusUnauthorized {
			return
		}
		id := requestClientID(r)
		s.knownClientAddrs.failed(id, addr)
		if byAddr.take(addr) {
			s.audit(r.Context(), "client_auth.locked", "remote", addr, "reason", "too many failed client authentications from this address")
		}
		if id != "" && byClient.take(id) {
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

// authFailureWatch notes the status a handler answered: 401 is a failed client authentication
// (RFC 6749 §5.2 invalid_client), 200 a successful one (each guarded endpoint authenticates the
// client before it answers anything else).
type authFailureWatch struct {
	http.ResponseWriter
	status int
}

func (w *authFailureWatch) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *authFailureWatch) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *authFailureWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// knownClientAddrs remembers, per client, the source addresses it authenticated from (a 200
// answer) within knownClientAddrTTL and has not failed from since: the idea of OWASP's device
// cookies for clients, which carry no cookies. Only a right credential adds an address, so an
// attacker can add none but their own client's. A nil *knownClientAddrs knows nothing.
type knownClientAddrs struct {
	now   func() time.Time
	mu    sync.Mutex   // serialises pruning
	n     atomic.Int64 // number of entries
	addrs sync.Map     // clientAddrKey → time of the last success
}

type clientAddrKey struct{ clientID, addr string }

// knownClientAddrTTL is how long a success keeps an address known.
const knownClientAddrTTL = 24 * time.Hour

func (k *knownClientAddrs) known(clientID, addr string) bool {
	if k == nil || clientID == "" {
		return false
	}
	v, ok := k.addrs.Load(clientAddrKey{clientID, addr})
	return ok && k.now().Sub(v.(time.Time)) < knownClientAddrTTL
}

// succeeded records a successful authentication of clientID from addr. It writes only when the
// address was unknown or its record is older than an hour, so a busy client costs one lookup.
func (k *knownClientAddrs) succeeded(clientID, addr string) {
	if k == nil || clientID == "" {
		return
	}
	key, now := clientAddrKey{clientID, addr}, k.now()
	if v, ok := k.addrs.Load(key); ok {
		if now.Sub(v.(time.Time)) > time.Hour {
			k.addrs.Store(key, now)
		}
		return
	}
	if k.n.Load() >= maxBuckets {
		k.sweep()
		if k.n.Load() >= maxBuckets { // full of live entries: this address stays unknown
			return
		}
	}
	if _, loaded := k.addrs.LoadOrStore(key, now); !loaded {
		k.n.Add(1)
	}
}

// failed forgets addr for clientID: an address that failed is refused like any other while the
// client's budget is spent.
func (k *knownClientAddrs) failed(clientID, addr string) {
	if k == nil || clientID == "" {
		return
	}
	if _, loaded := k.addrs.LoadAndDelete(clientAddrKey{clientID, addr}); loaded {
		k.n.Add(-1)
	}
}

// sweep forgets the entries older than knownClientAddrTTL; the janitor calls it.
func (k *knownClientAddrs) sweep() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	k.addrs.Range(func(key, v any) bool {
		if now.Sub(v.(time.Time)) >= knownClientAddrTTL {
			if _, loaded := k.addrs.LoadAndDelete(key); loaded {
				k.n.Add(-1)
			}
		}
		return true
	})
}

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
