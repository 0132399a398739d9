// Limits against floods and brute force (RFC 6749 §10.10, RFC 9700 §4, RFC 7591 §5, the MCP
// security considerations): per-source-address rate limits on the costly unauthenticated
// endpoints and a budget of failed client authentications per client and per address (the
// per-account login lockout is lockout.go). The budgets are counted in the store
// (store.RateCountStore), so that every instance sharing a store enforces one budget.
package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// limiter is a budget of events per key (a source address, a client ID, a user), counted in the
// store so that every instance sharing it spends the same budget, with a local view: the keys
// this instance saw spent, until they have room again. The store only moves a budget's FullAt
// forward, so a key spent in the view is spent in the store too: the view refuses nothing the
// store would allow, and spares the store the requests of a key that is over its limit (a
// flood costs one map lookup per request). A nil *limiter allows everything.
//
// A budget of 2×leaseShare events or more is taken from the store in leases of 1/leaseShare of it
// (a lease of w events is counted at once and spent here within the time w events take to
// refill), so that a busy key costs one statement per w events instead of one per event. An
// instance may then admit up to one lease more than the budget in a period, and a lease it does
// not use up is lost to the others; smaller budgets are counted event by event, exactly.
type limiter struct {
	prefix string // of its keys' names in the store
	limit  store.RateLimit
	lease  int // events a lease takes; below 2, no leases
	st     store.RateCountStore
	now    func() time.Time

	mu     sync.Mutex // serialises pruning
	spent  countedMap // key → the FullAt (time.Time) it was seen spent with
	leases countedMap // key → *lease
}

// countedMap is a sync.Map that counts its entries, so that the local views can be bounded
// (maxBuckets) without ranging over them.
type countedMap struct {
	m sync.Map
	n atomic.Int64
}

func (c *countedMap) len() int64                  { return c.n.Load() }
func (c *countedMap) load(key any) (any, bool)    { return c.m.Load(key) }
func (c *countedMap) swap(key, old, new any) bool { return c.m.CompareAndSwap(key, old, new) }
func (c *countedMap) clear()                      { c.m.Clear(); c.n.Store(0) }

// store sets key to v and reports whether key is new.
func (c *countedMap) store(key, v any) bool {
	_, loaded := c.m.Swap(key, v)
	if !loaded {
		c.n.Add(1)
	}
	return !loaded
}

// loadOrStore returns key's value, storing v first if key had none (added).
func (c *countedMap) loadOrStore(key, v any) (actual any, added bool) {
	actual, loaded := c.m.LoadOrStore(key, v)
	if !loaded {
		c.n.Add(1)
	}
	return actual, !loaded
}

// delete removes key.
func (c *countedMap) delete(key any) {
	if _, loaded := c.m.LoadAndDelete(key); loaded {
		c.n.Add(-1)
	}
}

// deleteIf removes each entry for which drop is true, unless it changed meanwhile.
func (c *countedMap) deleteIf(drop func(key, v any) bool) {
	c.m.Range(func(key, v any) bool {
		if drop(key, v) && c.m.CompareAndDelete(key, v) {
			c.n.Add(-1)
		}
		return true
	})
}

// maxEvents bounds a budget: a billion events a period is no limit in practice, and keeps the
// store's arithmetic (events × interval, in milliseconds after now) far from overflowing.
const maxEvents = 1 << 30

// leaseShare is the share of a budget one lease takes (see limiter).
const leaseShare = 64

// lease is the part of a key's budget this instance took from the store and has left.
type lease struct {
	refill sync.Mutex   // held by the request taking the next lease
	left   atomic.Int64 // events left; below 0 when used up
	until  atomic.Int64 // Unix nanoseconds after which the events left may no longer be spent
}

// newLimiter allows n events per period per key, in bursts of n, counted in st under names
// beginning with prefix, on the clock now; n < 0 means no limit, and n is at most maxEvents.
func newLimiter(prefix string, n int, per time.Duration, st store.RateCountStore, now func() time.Time) *limiter {
	if n < 0 {
		return nil
	}
	n = min(n, maxEvents)
	return &limiter{prefix: prefix, limit: store.RateLimit{Events: n, Period: per}, lease: n / leaseShare, st: st, now: now}
}

// maxBuckets bounds the keys a local view holds; when it is full, keys with room again are
// dropped, and if none has, the view starts over (the store still holds every count).
const maxBuckets = 10000

// rateKey is the name in the store of the key v under prefix: v itself when it is short
// printable ASCII without '#', else '#' and v's SHA-256 (a client_id is whatever a request sent;
// a database key must be short valid text).
func rateKey(prefix, v string) string {
	plain := len(v) <= 128
	for i := 0; plain && i < len(v); i++ {
		plain = v[i] > ' ' && v[i] < 0x7f && v[i] != '#'
	}
	if plain {
		return prefix + v
	}
	h := sha256.Sum256([]byte(v))
	return prefix + "#" + base64.RawURLEncoding.EncodeToString(h[:])
}

// blocked reports whether the view holds key as spent, and for how long. It asks no store.
func (l *limiter) blocked(key string) (time.Duration, bool) {
	if l == nil || l.spent.len() == 0 {
		return 0, false
	}
	v, ok := l.spent.load(key)
	if !ok {
		return 0, false
	}
	rc := store.RateCount{FullAt: v.(time.Time)}
	wait := rc.Wait(l.now(), l.limit)
	return wait, wait > 0
}

// learn takes in what the store said of key (nil: no record) and reports whether it is spent,
// and for how long.
func (l *limiter) learn(key string, rc *store.RateCount) (time.Duration, bool) {
	if l == nil || rc == nil {
		return 0, false
	}
	wait := rc.Wait(l.now(), l.limit)
	if wait <= 0 {
		return 0, false
	}
	if l.spent.store(key, rc.FullAt) && l.spent.len() > maxBuckets {
		l.sweep()
		if l.spent.len() > maxBuckets { // a flood of spent keys: start over
			l.mu.Lock()
			l.spent.clear()
			l.mu.Unlock()
		}
	}
	return wait, true
}

// check reports whether key is spent, and for how long: from the view, else from the store.
func (l *limiter) check(ctx context.Context, key string) (time.Duration, bool, error) {
	if l == nil {
		return 0, false, nil
	}
	if wait, ok := l.blocked(key); ok {
		return wait, true, nil
	}
	recs, err := l.st.GetRateCounts(ctx, []string{rateKey(l.prefix, key)})
	if err != nil || len(recs) == 0 {
		return 0, false, err
	}
	wait, ok := l.learn(key, recs[0])
	return wait, ok, nil
}

// take counts one event of key if its budget has room (counted), and reports how long the key
// is spent after it (wait; 0 when it has room left). An event of this instance's lease of the
// key (counted in the store already) asks no store, nor does a key spent in the view, which is
// not counted.
func (l *limiter) take(ctx context.Context, key string) (counted bool, wait time.Duration, err error) {
	if l == nil {
		return true, 0, nil
	}
	var ls *lease
	now := l.now()
	if l.lease > 1 {
		ls = l.leaseOf(key)
		if now.UnixNano() < ls.until.Load() && ls.left.Add(-1) >= 0 {
			return true, 0, nil
		}
	}
	if wait, ok := l.blocked(key); ok {
		return false, wait, nil
	}
	n := 1
	if ls != nil {
		if ls.refill.TryLock() { // else another request is taking the next lease: count this one alone
			defer ls.refill.Unlock()
			n = l.lease
			defer func() {
				if counted && n > 1 {
					ls.left.Store(int64(n - 1))
					ls.until.Store(now.Add(time.Duration(n) * l.limit.Interval()).UnixNano())
				}
			}()
		}
	}
	name := rateKey(l.prefix, key)
	rc, counted, err := l.st.CountRate(ctx, name, l.now(), l.limit, n)
	if err == nil && !counted && n > 1 { // no room for a lease: maybe for one event
		n = 1
		rc, counted, err = l.st.CountRate(ctx, name, l.now(), l.limit, 1)
	}
	if err != nil {
		return false, 0, err
	}
	wait, _ = l.learn(key, &rc)
	return counted, wait, nil
}

// leaseOf returns key's lease, creating an empty one if needed.
func (l *limiter) leaseOf(key string) *lease {
	if v, ok := l.leases.load(key); ok {
		return v.(*lease)
	}
	if l.leases.len() >= maxBuckets { // many keys: start over (what the leases had left is lost)
		l.mu.Lock()
		l.leases.clear()
		l.mu.Unlock()
	}
	v, _ := l.leases.loadOrStore(key, &lease{})
	return v.(*lease)
}

// sweep drops the keys of the view that have room again; the janitor calls it.
func (l *limiter) sweep() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.spent.deleteIf(func(_, v any) bool {
		rc := store.RateCount{FullAt: v.(time.Time)}
		return rc.Wait(now, l.limit) <= 0
	})
	l.leases.deleteIf(func(_, v any) bool { return now.UnixNano() >= v.(*lease).until.Load() })
}

// setRetryAfter says in whole seconds, rounded up, when a refused request may be sent again.
func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
}

// guardClientAuth protects the endpoints that authenticate clients (token, revocation,
// introspection, device authorization) against guessing of client secrets: each failed client
// authentication (a 401 invalid_client answer) spends the budget of its client_id and of its
// source address, in the store; while either is spent, requests get 429 invalid_client with
// Retry-After, without their credentials being checked, so a right guess is not recognised
// either. The client's spent budget does not refuse an address the client authenticated from
// lately without failing since (knownClientAddrs), so that guesses from elsewhere do not lock
// the client out where it runs.
//
// Costs: a request from an address the client is known at here pays two map lookups before and
// one after, and asks the store nothing when it succeeds; any other request first reads its
// budgets and its address's mark in the store (one query), so that budgets spent at other
// instances refuse it; a first success from an address writes its mark (at most once an hour
// per client, address and instance); a failure counts in the store (two statements) and ends
// its address's mark.
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
		// The client's ID may be in the form: read it now (the handler finds it read).
		if e := readForm(w, r); e != nil {
			writeError(w, r, e)
			return
		}
		watch := &authFailureWatch{ResponseWriter: w, basic: parseBasicCredentials(r)}
		ctx, id := r.Context(), requestClientID(r, watch.basic)
		known := s.knownClientAddrs.known(id, addr)
		if !known {
			var wait time.Duration
			var err error
			if wait, known, err = s.clientAuthBudgets(ctx, id, addr); err != nil {
				s.log.ErrorContext(ctx, "authserver: read client authentication budgets", "err", err)
				writeError(w, r, newError(errServerError, "internal error"))
				return
			} else if wait > 0 {
				s.tooManyClientAuthFailures(w, wait)
				return
			}
		}
		next.ServeHTTP(watch, r)
		var err error
		switch watch.status {
		case http.StatusOK:
			err = s.knownClientAddrs.succeeded(ctx, id, addr)
		case http.StatusUnauthorized:
			err = s.clientAuthFailed(ctx, id, addr, known)
		}
		if err != nil {
			s.log.ErrorContext(ctx, "authserver: record a client authentication", "err", err)
		}
	})
}

// clientAuthBudgets reads from the store whether the budgets of addr and of the client id are
// spent, and whether the client is known at addr (then its own spent budget does not count). It
// returns how long the request must wait (0: it may go on).
func (s *Server) clientAuthBudgets(ctx context.Context, id, addr string) (wait time.Duration, known bool, err error) {
	byClient, byAddr := s.clientAuthLim, s.clientAuthAddrLim
	var addrKey, clientKey, knownKey string
	var keys []string
	if byAddr != nil {
		addrKey = rateKey(byAddr.prefix, addr)
		keys = append(keys, addrKey)
	}
	if byClient != nil && id != "" {
		clientKey, knownKey = rateKey(byClient.prefix, id), s.knownClientAddrs.key(id, addr)
		keys = append(keys, clientKey, knownKey)
	}
	if len(keys) == 0 {
		return 0, false, nil
	}
	recs, err := s.store.GetRateCounts(ctx, keys)
	if err != nil {
		return 0, false, err
	}
	record := func(key string) *store.RateCount {
		for _, rc := range recs {
			if key != "" && rc.Key == key {
				return rc
			}
		}
		return nil
	}
	if wait, ok := byAddr.learn(addr, record(addrKey)); ok {
		return wait, false, nil
	}
	if clientKey == "" {
		return 0, false, nil
	}
	known = s.knownClientAddrs.learn(id, addr, record(knownKey))
	if wait, ok := byClient.learn(id, record(clientKey)); ok && !known {
		return wait, false, nil
	}
	return 0, known, nil
}

// clientAuthFailed counts a failed client authentication of id from addr against both budgets
// (audited client_auth.locked when it spends one) and ends the client's mark at addr (known: it
// may have one).
func (s *Server) clientAuthFailed(ctx context.Context, id, addr string, known bool) error {
	if err := s.knownClientAddrs.failed(ctx, id, addr, known); err != nil {
		return err
	}
	if counted, wait, err := s.clientAuthAddrLim.take(ctx, addr); err != nil {
		return err
	} else if counted && wait > 0 {
		s.audit(ctx, "client_auth.locked", "remote", addr, "reason", "too many failed client authentications from this address")
	}
	if id == "" {
		return nil
	}
	if counted, wait, err := s.clientAuthLim.take(ctx, id); err != nil {
		return err
	} else if counted && wait > 0 {
		s.audit(ctx, "client_auth.locked", "client_id", logID(id), "remote", addr, "reason", "too many failed client authentications for this client")
	}
	return nil
}

// tooManyClientAuthFailures answers a request refused by guardClientAuth.
func (s *Server) tooManyClientAuthFailures(w http.ResponseWriter, wait time.Duration) {
	setRetryAfter(w, wait)
	writeJSON(w, http.StatusTooManyRequests, newError(errInvalidClient, "too many failed client authentications; try again later"))
}

// requestClientID is the client_id a token-endpoint style request claims: the Basic user (of
// basic, its Basic credentials), the form's client_id, or the sub of a client assertion. The
// form must have been read.
func requestClientID(r *http.Request, basic basicCredentials) string {
	if basic.present {
		return basic.id
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
// client before it answers anything else). It carries the request's Basic credentials to the
// endpoint (requestBasicCredentials), so that the header is decoded once.
type authFailureWatch struct {
	http.ResponseWriter
	status int
	basic  basicCredentials
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
// attacker can add none but their own client's. Each address is also marked in the store (at
// most once an hour per instance), so that every instance spares it; here it is known from
// this instance's successes and from the marks it read. A nil *knownClientAddrs knows nothing.
type knownClientAddrs struct {
	st    store.RateCountStore
	now   func() time.Time
	mu    sync.Mutex // serialises pruning
	addrs countedMap // clientAddrKey → when its mark in the store was last written
}

type clientAddrKey struct{ clientID, addr string }

// knownClientAddrTTL is how long a success keeps an address known.
const knownClientAddrTTL = 24 * time.Hour

// key is the name in the store of the mark of clientID at addr.
func (k *knownClientAddrs) key(clientID, addr string) string {
	return rateKey("known/", addr+" "+clientID)
}

func (k *knownClientAddrs) known(clientID, addr string) bool {
	if k == nil || clientID == "" {
		return false
	}
	v, ok := k.addrs.load(clientAddrKey{clientID, addr})
	return ok && k.now().Sub(v.(time.Time)) < knownClientAddrTTL
}

// learn takes in the mark of clientID at addr read from the store (nil: none), and reports
// whether it makes the address known.
func (k *knownClientAddrs) learn(clientID, addr string, mark *store.RateCount) bool {
	if k == nil || mark == nil || !mark.FullAt.After(k.now()) {
		return false
	}
	k.add(clientAddrKey{clientID, addr}, mark.FullAt.Add(-knownClientAddrTTL))
	return true
}

// add records that key's mark was written at, unless the view is full of live entries.
func (k *knownClientAddrs) add(key clientAddrKey, at time.Time) bool {
	if k.addrs.len() >= maxBuckets {
		k.sweep()
		if k.addrs.len() >= maxBuckets { // full of live entries: this address stays unknown here
			return false
		}
	}
	_, added := k.addrs.loadOrStore(key, at)
	return added
}

// succeeded records a successful authentication of clientID from addr. It writes the mark only
// when the address was unknown here or its mark is older than an hour, so a busy client costs
// one lookup.
func (k *knownClientAddrs) succeeded(ctx context.Context, clientID, addr string) error {
	if k == nil || clientID == "" {
		return nil
	}
	key, now := clientAddrKey{clientID, addr}, k.now()
	if v, ok := k.addrs.load(key); ok {
		if now.Sub(v.(time.Time)) <= time.Hour || !k.addrs.swap(key, v, now) {
			return nil // recent enough, or another request is writing it
		}
	} else if !k.add(key, now) {
		return nil
	}
	return k.st.ExtendRateCount(ctx, k.key(clientID, addr), now.Add(knownClientAddrTTL))
}

// failed forgets addr for clientID, here and, when marked may hold, in the store: an address
// that failed is refused like any other while the client's budget is spent.
func (k *knownClientAddrs) failed(ctx context.Context, clientID, addr string, marked bool) error {
	if k == nil || clientID == "" {
		return nil
	}
	k.addrs.delete(clientAddrKey{clientID, addr})
	if !marked {
		return nil
	}
	return k.st.DeleteRateCounts(ctx, []string{k.key(clientID, addr)})
}

// sweep forgets the entries older than knownClientAddrTTL; the janitor calls it.
func (k *knownClientAddrs) sweep() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	k.addrs.deleteIf(func(_, v any) bool { return now.Sub(v.(time.Time)) >= knownClientAddrTTL })
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
