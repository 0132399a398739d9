// Rate limits per user and per client with the Generic Cell Rate Algorithm, reported with the
// RateLimit and RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers) and Retry-After (RFC 9110 §10.2.3).

package protect

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limit allows Requests requests per Window: up to Requests at once, then
// refilling evenly over the window. The zero Limit means unlimited.
type Limit struct {
	Requests int
	Window   time.Duration
}

func (l Limit) unlimited() bool { return l.Requests <= 0 || l.Window <= 0 }

// interval is the GCRA emission interval: the time one request "costs"
// (at least 1ns, so that absurdly high rates cannot divide by zero).
func (l Limit) interval() time.Duration { return max(l.Window/time.Duration(l.Requests), 1) }

// Decision is the outcome of taking one request from a limit.
type Decision struct {
	Allowed    bool
	Remaining  int           // requests still allowed right now
	RetryAfter time.Duration // when denied: wait this long
	Reset      time.Duration // time until the limit is fully replenished
}

// A Limiter counts requests against limits under string keys. The memory
// limiter serves one process; [RedisLimiter] shares limits between instances.
type Limiter interface {
	Take(ctx context.Context, key string, l Limit) (Decision, error)
}

// gcra applies one request at now to a theoretical arrival time tat (zero:
// never seen) and returns the decision and the new tat.
func gcra(now, tat time.Time, l Limit) (Decision, time.Time) {
	t := l.interval()
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(t)
	allowAt := newTAT.Add(-time.Duration(l.Requests) * t)
	if now.Before(allowAt) {
		return Decision{RetryAfter: allowAt.Sub(now), Reset: tat.Sub(now)}, tat
	}
	return Decision{Allowed: true, Remaining: int(now.Sub(allowAt) / t), Reset: newTAT.Sub(now)}, newTAT
}

// MemoryLimiter is an in-process [Limiter]. Idle keys are swept so memory
// stays bounded by the number of recently active users and clients.
type MemoryLimiter struct {
	mu        sync.Mutex
	tat       map[string]time.Time
	lastSweep time.Time
	now       func() time.Time
}

// NewMemoryLimiter returns an empty in-memory limiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{tat: map[string]time.Time{}, now: time.Now}
}

// Take counts one request under key. It never fails.
func (m *MemoryLimiter) Take(_ context.Context, key string, l Limit) (Decision, error) {
	if l.unlimited() {
		return Decision{Allowed: true, Remaining: math.MaxInt32}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.lastSweep) > time.Minute {
		for k, t := range m.tat {
			if t.Before(now) { // fully replenished: same as never seen
				delete(m.tat, k)
			}
		}
		m.lastSweep = now
	}
	d, tat := gcra(now, m.tat[key], l)
	m.tat[key] = tat
	return d, nil
}

// RateLimits configures the middleware's limits.
type RateLimits struct {
	// PerUser limits each user (issuer and sub). Zero: unlimited.
	PerUser Limit
	// PerClient limits each client_id whose token has no quota tier, or a
	// tier not in Tiers. Zero: unlimited.
	PerClient Limit
	// Tiers gives the per-client limit of each quota tier, as set by the
	// authorization server for pre-registered clients (TokenInfo.QuotaTier).
	Tiers map[string]Limit
	// Limiter counts requests (default: a new MemoryLimiter).
	Limiter Limiter
	// FailClosed refuses requests with 503 when the Limiter fails (Redis
	// down). The default, fail open, lets authenticated requests through and
	// counts the failure in the metrics: tokens, scopes and session binding
	// are still enforced, and an outage of the limiter's store should not
	// take the whole MCP service down with it.
	FailClosed bool
}

// limitCheck is one named limit applied to one request.
type limitCheck struct {
	policy string // "user" or "client": the RateLimit-Policy name
	key    string
	limit  Limit
}

// checksFor returns the limits that apply to a request with ti (at most
// two, in buf's storage), under the keys in d, and the RateLimit-Policy value
// that describes them (from policies).
func (rl *RateLimits) checksFor(ti *TokenInfo, d *derived, policies *ratePolicies, buf *[2]limitCheck) ([]limitCheck, string) {
	checks := buf[:0]
	if !rl.PerUser.unlimited() {
		checks = append(checks, limitCheck{"user", d.rateUser, rl.PerUser})
	}
	if d.rateClient != "" {
		l, tier := rl.clientLimit(ti.QuotaTier)
		if !l.unlimited() {
			return append(checks, limitCheck{"client", d.rateClient, l}), policies.withClient[tier]
		}
	}
	return checks, policies.userOnly
}

// clientLimit returns the per-client limit of a quota tier and the tier it
// applies ("" for PerClient, when tier is empty or not in Tiers).
func (rl *RateLimits) clientLimit(tier string) (Limit, string) {
	if tl, ok := rl.Tiers[tier]; ok && tier != "" {
		return tl, tier
	}
	return rl.PerClient, ""
}

// ratePolicies holds the RateLimit-Policy value of every set of limits a
// request can meet, formatted once rather than on every request: the user's
// limit alone, or with the client's limit of each quota tier ("" for
// PerClient).
type ratePolicies struct {
	userOnly   string
	withClient map[string]string
}

func newRatePolicies(rl *RateLimits) *ratePolicies {
	format := func(client *Limit) string {
		var b []byte
		if !rl.PerUser.unlimited() {
			b = appendPolicy(b, "user", rl.PerUser)
		}
		if client != nil {
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = appendPolicy(b, "client", *client)
		}
		return string(b)
	}
	p := &ratePolicies{userOnly: format(nil), withClient: map[string]string{}}
	for tier, l := range rl.Tiers {
		if tier != "" {
			p.withClient[tier] = format(&l)
		}
	}
	p.withClient[""] = format(&rl.PerClient)
	return p
}

// rateLimitOutcome is the result of all limits for one request.
type rateLimitOutcome struct {
	denied     string // the policy that refused the request, if any
	retryAfter time.Duration
	err        error
}

// The response fields of draft-ietf-httpapi-ratelimit-headers, in canonical form.
const (
	headerRateLimitPolicy = "Ratelimit-Policy"
	headerRateLimit       = "Ratelimit"
	headerRetryAfter      = "Retry-After"
)

// take applies every limit of ti (keys in d) and sets the rate-limit fields
// on h.
func (rl *RateLimits) take(ctx context.Context, ti *TokenInfo, d *derived, policies *ratePolicies, h http.Header) rateLimitOutcome {
	var out rateLimitOutcome
	var checksBuf [2]limitCheck
	checks, policy := rl.checksFor(ti, d, policies, &checksBuf)
	if len(checks) == 0 {
		return out
	}
	tightest, tightestRemaining := "", math.MaxInt
	var tightestReset time.Duration
	for _, c := range checks {
		decision, err := rl.Limiter.Take(ctx, c.key, c.limit)
		if err != nil {
			out.err = err
			return out
		}
		if !decision.Allowed && decision.RetryAfter > out.retryAfter {
			out.denied, out.retryAfter = c.policy, decision.RetryAfter
		}
		if decision.Remaining < tightestRemaining {
			tightest, tightestRemaining, tightestReset = c.policy, decision.Remaining, decision.Reset
		}
	}
	var buf [64]byte // the RateLimit value is formatted here, then copied once
	// One backing array for the fields' values, as http.Header.Clone does.
	values := make([]string, 2, 3)
	values[0] = policy
	if out.denied != "" {
		values[1] = string(appendLimit(buf[:0], out.denied, 0, out.retryAfter))
		values = append(values, strconv.FormatInt(ceilSeconds(out.retryAfter), 10))
		h[headerRetryAfter] = values[2:3:3]
	} else {
		values[1] = string(appendLimit(buf[:0], tightest, tightestRemaining, tightestReset))
	}
	h[headerRateLimitPolicy] = values[0:1:1]
	h[headerRateLimit] = values[1:2:2]
	return out
}

// appendPolicy appends one RateLimit-Policy item: "name";q=requests;w=seconds.
func appendPolicy(b []byte, name string, l Limit) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(l.Requests), 10)
	b = append(b, ";w="...)
	return strconv.AppendInt(b, ceilSeconds(l.Window), 10)
}

// appendLimit appends one RateLimit item: "name";r=remaining;t=seconds.
func appendLimit(b []byte, name string, remaining int, reset time.Duration) []byte {
	b = strconv.AppendQuote(b, name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(remaining), 10)
	b = append(b, ";t="...)
	return strconv.AppendInt(b, ceilSeconds(reset), 10)
}

// ceilSeconds rounds d up to whole seconds (at least 1 for positive d), as
// Retry-After and the RateLimit fields carry integer seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
