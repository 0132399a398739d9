// Per-source-address rate limits for unauthenticated endpoints that cost the server (dynamic
// client registration, password login), as RFC 7591 §5 and the MCP security considerations
// advise.
package authserver

import (
	"net"
	"net/http"
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

// allow reports whether the request's source address may make one more request now.
func (l *addrLimiter) allow(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
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
		l.buckets[host] = b
	}
	return b.Allow()
}
