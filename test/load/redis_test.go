package load

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// startRedis runs a redis-server of this test's own (the shared one must not be stopped) on addr,
// or on a free port when addr is empty; it returns the process and its address.
func startRedis(t *testing.T, addr string) (*harness.Process, string) {
	t.Helper()
	testenv.RedisAddr(t) // Redis is part of the test environment: skip or fail as it says
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	if addr == "" {
		addr = testenv.FreeAddr(t)
	}
	_, port, _ := net.SplitHostPort(addr)
	p := harness.Start(t, harness.Options{PinCPU: -1, Ready: regexp.MustCompile(`Ready to accept connections`)},
		bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	return p, addr
}

// callUntilLimited calls a tool until the server answers 429, and fails if it never does.
func callUntilLimited(t *testing.T, s *harness.MCPSession, max int) {
	t.Helper()
	for range max {
		err := s.CallTool(context.Background(), "weather_forecast", map[string]any{"city": "Oslo", "days": 1})
		var se *harness.StatusError
		if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
			return
		}
		if err != nil {
			t.Fatalf("tool call: %v", err)
		}
	}
	t.Fatalf("no 429 in %d calls over a limit of 6 per user", max)
}

// testRedisLoss runs mcpauth serve with limits in Redis (6 requests per user per minute), stops
// Redis (kills it, or with freeze stops it with SIGSTOP, so that it accepts connections and
// answers nothing), and checks the documented degraded behaviour: each request answered within two
// seconds, failing open (requests pass, authentication and scopes still enforced, and the
// instance stays ready) or, with --redis-fail-closed, with 503 (and /readyz 503). When Redis
// returns, the limits apply again.
func testRedisLoss(t *testing.T, failClosed, freeze bool) {
	redisProc, addr := startRedis(t, "")
	extra := []string{"--redis", "redis://" + addr + "/0", "--rate-user", "6"}
	if failClosed {
		extra = append(extra, "--redis-fail-closed")
	}
	s := startServer(t, "sqlite", extra...)
	ctx := context.Background()
	as := s.as(t, 2)
	c, err := as.Register(ctx, "redis loss client")
	if err != nil {
		t.Fatal(err)
	}
	code, verifier, err := as.Authorize(ctx, c, "weather:read")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := as.Exchange(ctx, c, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := harness.OpenMCP(ctx, as.HTTP, s.MCPURL, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	callUntilLimited(t, sess, 10) // the limit is counted in Redis

	if freeze {
		if err := redisProc.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = redisProc.Signal(syscall.SIGCONT) })
	} else {
		redisProc.Kill()
	}
	for range 3 {
		start := time.Now()
		err := sess.CallTool(ctx, "weather_forecast", map[string]any{"city": "Oslo", "days": 1})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a tool call with Redis down was answered after %v", took)
		}
		var se *harness.StatusError
		switch {
		case failClosed && (!errors.As(err, &se) || se.Status != http.StatusServiceUnavailable):
			t.Fatalf("Redis down, fail closed: got %v, want 503", err)
		case !failClosed && err != nil:
			t.Fatalf("Redis down, fail open: got %v, want the call to pass", err)
		}
	}
	// Authentication is still enforced without Redis.
	resp, err := http.Post(s.MCPURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Redis down, request without a token: %s, want 401", resp.Status)
	}
	wantReady := http.StatusOK // failing open, the instance serves on
	if failClosed {
		wantReady = http.StatusServiceUnavailable
	}
	if status := readyStatus(t, s); status != wantReady {
		t.Errorf("/readyz with Redis down (fail closed: %v): %d, want %d", failClosed, status, wantReady)
	}
	if n := metric(t, s, "mcpauth_protect_rate_limiter_errors_total"); n < 3 {
		t.Errorf("mcpauth_protect_rate_limiter_errors_total = %v after 3 calls with Redis down", n)
	}

	if freeze {
		if err := redisProc.Signal(syscall.SIGCONT); err != nil { // its counts are still there
			t.Fatal(err)
		}
	} else {
		startRedis(t, addr) // an empty Redis on the same address: counts start again
	}
	callUntilLimited(t, sess, 10)
}

func TestRedisLossFailsOpen(t *testing.T)    { testRedisLoss(t, false, false) }
func TestRedisLossFailsClosed(t *testing.T)  { testRedisLoss(t, true, false) }
func TestRedisStallFailsOpen(t *testing.T)   { testRedisLoss(t, false, true) }
func TestRedisStallFailsClosed(t *testing.T) { testRedisLoss(t, true, true) }
