// Per-source-address rate limits for unauthenticated endpoints that cost the server (dynamic
// client registration, password login), as RFC 7591 §5 and the MCP security considerations
// advise.
package authserver

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// addrLimiter keeps a token bucket per source IP address.
type addrLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// newAddrLimiter allows n events per period per address, in bursts of n.
func newAddrLimiter(n int, per time.Duration) *addrLimiter {
	return &addrLimiter{limit: rate.Limit(float64(n) / per.Seconds()), burst: n, buckets: map[string]*rate.Limiter{}}
}

// maxBuckets bounds the memory of the limiter; when it is full, buckets that have refilled are
// dropped (they would allow a full burst anyway).
const maxBuckets = 10000

// allow reports whether the source address may make one more request now.
func (l *addrLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			now := time.Now()
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxBuckets { // a flood of addresses: start over
				clear(l.buckets)
			}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[addr] = b
	}
	return b.Allow()
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
