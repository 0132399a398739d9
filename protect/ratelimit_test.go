package protect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
	"github.com/redis/go-redis/v9"
)

func TestGCRA(t *testing.T) {
	l := Limit{Requests: 3, Window: 3 * time.Second} // one per second, burst 3
	now := time.Unix(1000, 0)
	var tat time.Time
	var d Decision
	for i := 0; i < 3; i++ {
		d, tat = gcra(now, tat, l)
		if !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d, tat = gcra(now, tat, l)
	if d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("4th request: %+v", d)
	}
	d, _ = gcra(now.Add(time.Second), tat, l)
	if !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after 1s: %+v", d)
	}
}

func TestGCRAHugeRateDoesNotDivideByZero(t *testing.T) {
	l := Limit{Requests: 1 << 40, Window: time.Second}
	d, _ := gcra(time.Unix(1000, 0), time.Time{}, l)
	if !d.Allowed {
		t.Fatalf("%+v", d)
	}
}

func TestUserOverLimitGets429WithRetryAfter(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) {
		c.RateLimits = &RateLimits{PerUser: Limit{Requests: 3, Window: time.Minute}}
	})
	token := as.mint(t, as.claims(m.resource, "echo:use"))
	for i := 0; i < 3; i++ {
		resp := m.post(t, token, callEcho)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		if got, want := resp.Header.Get("RateLimit"), fmt.Sprintf(`"user";r=%d;t=`, 2-i); !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit %q, want prefix %q", i, got, want)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != `"user";q=3;w=60` {
			t.Errorf("RateLimit-Policy %q", got)
		}
	}
	resp := m.post(t, token, callEcho)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: status %d", resp.StatusCode)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 19 || ra > 20 {
		t.Errorf("Retry-After %q, want 20 (one request per 20s)", resp.Header.Get("Retry-After"))
	}
	if got := resp.Header.Get("RateLimit"); got != fmt.Sprintf(`"user";r=0;t=%d`, ra) {
		t.Errorf("RateLimit %q", got)
	}
	// Another user has a budget of their own.
	c := as.claims(m.resource, "echo:use")
	c["sub"] = "bob"
	if resp := m.post(t, as.mint(t, c), callEcho); resp.StatusCode != 200 {
		t.Errorf("bob: status %d", resp.StatusCode)
	}
	if m.served.Load() != 4 {
		t.Errorf("%d requests reached the server, want 4", m.served.Load())
	}
}

func TestPerClientQuotaTier(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) {
		c.RateLimits = &RateLimits{
			PerClient: Limit{Requests: 2, Window: time.Minute},
			Tiers:     map[string]Limit{"gold": {Requests: 5, Window: time.Minute}},
		}
	})
	// Many users of one pre-registered client share the client's quota.
	count := func(clientID, tier string) int {
		ok := 0
		for i := 0; i < 8; i++ {
			c := as.claims(m.resource, "echo:use")
			c["client_id"], c["sub"] = clientID, fmt.Sprintf("user-%d", i)
			if tier != "" {
				c["quota_tier"] = tier
			}
			resp := m.post(t, as.mint(t, c), callEcho)
			if resp.StatusCode == 200 {
				ok++
			} else if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		return ok
	}
	if n := count("plain-client", ""); n != 2 {
		t.Errorf("client without tier: %d requests allowed, want 2", n)
	}
	if n := count("gold-client", "gold"); n != 5 {
		t.Errorf("gold client: %d requests allowed, want 5", n)
	}
	if n := count("unknown-tier-client", "platinum"); n != 2 {
		t.Errorf("unknown tier: %d requests allowed, want the default 2", n)
	}
}

func TestRateLimitPolicyNamesTheLimitsApplied(t *testing.T) {
	as := newTestAS(t)
	tiers := map[string]Limit{"gold": {Requests: 500, Window: time.Minute}}
	m := newTestMCP(t, as, func(c *Config) {
		c.RateLimits = &RateLimits{PerUser: Limit{Requests: 100, Window: time.Hour},
			PerClient: Limit{Requests: 50, Window: time.Minute}, Tiers: tiers}
	})
	tiers["gold"] = Limit{Requests: 1, Window: time.Second} // after New: not what is enforced
	// One user throughout: its remaining count falls by one per request.
	for _, tc := range []struct{ clientID, tier, policy, limit string }{
		{"", "", `"user";q=100;w=3600`, `"user";r=99;t=36`},
		{"plain", "", `"user";q=100;w=3600, "client";q=50;w=60`, `"client";r=49;t=2`},
		{"golden", "gold", `"user";q=100;w=3600, "client";q=500;w=60`, `"user";r=97;t=108`},
		{"other", "platinum", `"user";q=100;w=3600, "client";q=50;w=60`, `"client";r=49;t=2`},
	} {
		c := as.claims(m.resource, "echo:use")
		delete(c, "client_id")
		if tc.clientID != "" {
			c["client_id"] = tc.clientID
		}
		if tc.tier != "" {
			c["quota_tier"] = tc.tier
		}
		resp := m.post(t, as.mint(t, c), callEcho)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("client %q: status %d", tc.clientID, resp.StatusCode)
		}
		if got := resp.Header.Get("RateLimit-Policy"); got != tc.policy {
			t.Errorf("client %q tier %q: RateLimit-Policy %q, want %q", tc.clientID, tc.tier, got, tc.policy)
		}
		if got := resp.Header.Get("RateLimit"); got != tc.limit {
			t.Errorf("client %q tier %q: RateLimit %q, want %q", tc.clientID, tc.tier, got, tc.limit)
		}
	}
}

func newRedisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisLimitsHoldAcrossTwoInstances(t *testing.T) {
	addr := testenv.RedisAddr(t)
	prefix := fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano())
	as := newTestAS(t)
	limits := func(c *Config) {
		c.RateLimits = &RateLimits{PerUser: Limit{Requests: 5, Window: time.Minute},
			Limiter: NewRedisLimiter(newRedisClient(t, addr), prefix)}
	}
	a, b := newTestMCP(t, as, limits), newTestMCP(t, as, limits)
	// Both instances serve the same resource in production; here each
	// checks its own URL as audience, and the user is the same.
	ok := 0
	for i := 0; i < 10; i++ {
		m := a
		if i%2 == 1 {
			m = b
		}
		resp := m.post(t, as.mint(t, as.claims(m.resource, "echo:use")), callEcho)
		switch resp.StatusCode {
		case 200:
			ok++
		case http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if ok != 5 {
		t.Errorf("%d requests allowed across two instances, want 5", ok)
	}
	if a.served.Load() == 0 || b.served.Load() == 0 || a.served.Load()+b.served.Load() != 5 {
		t.Errorf("served a=%d b=%d: both instances should have served, 5 in all", a.served.Load(), b.served.Load())
	}
}

func TestRedisLimiterMatchesGCRA(t *testing.T) {
	addr := testenv.RedisAddr(t)
	rl := NewRedisLimiter(newRedisClient(t, addr), fmt.Sprintf("test:%s:%d:", t.Name(), time.Now().UnixNano()))
	l := Limit{Requests: 3, Window: time.Hour}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		d, err := rl.Take(ctx, "k", l)
		if err != nil || !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	d, err := rl.Take(ctx, "k", l)
	if err != nil || d.Allowed || d.RetryAfter < 19*time.Minute || d.RetryAfter > 20*time.Minute {
		t.Fatalf("4th: %+v %v", d, err)
	}
}

// deadRedisAddr returns the address of a port that was just closed, so a
// connection is refused: the fault "Redis is down", which a running Redis
// cannot produce.
func deadRedisAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRedisDownFailsOpenByDefaultOrClosedWhenAsked(t *testing.T) {
	as := newTestAS(t)
	for _, failClosed := range []bool{false, true} {
		m := newTestMCP(t, as, func(c *Config) {
			c.RateLimits = &RateLimits{PerUser: Limit{Requests: 1, Window: time.Minute}, FailClosed: failClosed,
				Limiter: NewRedisLimiter(newRedisClient(t, deadRedisAddr(t)), "x:")}
		})
		resp := m.post(t, as.mint(t, as.claims(m.resource, "echo:use")), callEcho)
		want := 200
		if failClosed {
			want = http.StatusServiceUnavailable
		}
		if resp.StatusCode != want {
			t.Errorf("FailClosed=%v: status %d, want %d", failClosed, resp.StatusCode, want)
		}
	}
}
