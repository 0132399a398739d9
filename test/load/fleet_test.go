// Package load runs mcpauth serve (the real binary) under a realistic mix of OAuth and MCP
// traffic, and under faults: kill -9 mid-load, PostgreSQL connections terminated, PostgreSQL
// stopped and started again, Redis gone; and proves the single-use rules under 100-way races.
// Loopback only; each run is bounded in time (MCPAUTH_LOAD_DURATION, default 3s per store).
package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/bench/harness"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// loadDuration is how long each load run lasts.
func loadDuration(t *testing.T) time.Duration {
	if v := os.Getenv("MCPAUTH_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MCPAUTH_LOAD_DURATION: %v", err)
		}
		return d
	}
	return 3 * time.Second
}

// server is mcpauth serve with its store arguments, so that it can be restarted on the same data.
type server struct {
	*harness.Serve
	bin       string
	storeArgs []string
	env       []string
	extra     []string
}

// mcpauthBin is the mcpauth binary every test of the package runs, built once by TestMain.
var mcpauthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpauth-load")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mcpauthBin = filepath.Join(dir, "mcpauth")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", mcpauthBin, "./cmd/mcpauth")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/mcpauth: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServer runs mcpauth serve with dev login on SQLite ("sqlite") or a fresh PostgreSQL
// database ("postgres"); rate limits are evaluated on every MCP request but set beyond reach.
func startServer(t *testing.T, storeKind string, extra ...string) *server {
	t.Helper()
	dsn := ""
	if storeKind == "postgres" {
		dsn = testenv.PostgresDSN(t)
	}
	return startServerOn(t, dsn, extra...)
}

// startServerOn is startServer on the PostgreSQL database dsn, or on SQLite when dsn is "".
func startServerOn(t *testing.T, dsn string, extra ...string) *server {
	t.Helper()
	s := &server{bin: mcpauthBin, storeArgs: []string{"--data", t.TempDir()}, extra: extra}
	if dsn != "" {
		s.storeArgs = append(s.storeArgs, "--postgres", dsn)
		s.env = []string{harness.NewKeyEnv()}
	}
	s.start(t, "127.0.0.1:0")
	return s
}

func (s *server) start(t *testing.T, addr string) {
	t.Helper()
	args := append([]string{"--addr", addr, "--dev-login", "loadtest", "--rate-user", "1000000000",
		"--rate-client", "1000000000"}, s.storeArgs...)
	s.Serve = harness.StartServe(t, harness.Options{PinCPU: -1, Env: s.env}, s.bin, append(args, s.extra...)...)
}

// as returns a client-side view of the authorization server with conns connections.
func (s *server) as(t *testing.T, conns int) *harness.AS {
	t.Helper()
	as, err := harness.Discover(context.Background(), harness.NewHTTPClient(conns), s.Issuer, s.MCPURL)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// maxRegistrations is how many clients a fleet registers: mcpauth serve lets one address make
// 10 registrations per minute (a DCR flood guard), and every worker runs from 127.0.0.1.
const maxRegistrations = 8

// worker is one simulated user of an MCP client application.
type worker struct {
	client   *harness.Client
	verifier string
	code     string // an authorization code waiting to be exchanged
	tokens   *harness.Tokens
	mcp      *harness.MCPSession
	next     int // iterations done since the last authorization
}

// fleet runs workers through the life of MCP clients: register (the first maxRegistrations
// workers; the others share those clients), authorize through dev login, exchange the code,
// then mostly tool calls, a refresh every 8th step and a new authorization every 40th. It records
// every acknowledged write, to check after faults that none was lost or can be replayed.
type fleet struct {
	as      *harness.AS
	workers []*worker

	mu         sync.Mutex
	registered []*harness.Client // acknowledged registrations (201)
	spentCodes []spent           // codes whose exchange was acknowledged (200)
	spentRTs   []spent           // refresh tokens whose rotation was acknowledged (200)
	inFlight   map[int]bool      // workers whose last operation got no answer

	progress     chan struct{} // a send per acknowledged write, when someone listens
	firstReg     chan struct{} // closed at the first acknowledged registration
	firstRegOnce sync.Once
}

type spent struct {
	client *harness.Client
	value  string
	// verifier is the PKCE verifier of a code.
	verifier string
}

func newFleet(as *harness.AS, n int) *fleet {
	f := &fleet{as: as, inFlight: map[int]bool{}, firstReg: make(chan struct{}), progress: make(chan struct{})}
	for range n {
		f.workers = append(f.workers, &worker{})
	}
	return f
}

// mix picks each worker's next step from its state.
func (f *fleet) mix(w, _ int) string {
	wk := f.workers[w]
	switch {
	case wk.client == nil:
		return "register"
	case wk.code != "":
		return "exchange"
	case wk.tokens == nil || wk.next%40 == 39:
		return "authorize"
	case wk.next%8 == 7:
		return "refresh"
	default:
		return "tools/call"
	}
}

// ops are the operations of the mix; each updates its worker's state only on success.
func (f *fleet) ops() map[string]harness.Op {
	return map[string]harness.Op{
		"register": func(ctx context.Context, w int) error {
			wk := f.workers[w]
			if w >= maxRegistrations { // share a client registered by another worker
				select {
				case <-f.firstReg:
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Minute):
					return errors.New("no client registered in a minute")
				}
				f.mu.Lock()
				defer f.mu.Unlock()
				wk.client = f.registered[w%len(f.registered)]
				return nil
			}
			c, err := track(f, w, func() (*harness.Client, error) { return f.as.Register(ctx, fmt.Sprintf("load client %d", w)) })
			if err != nil {
				return err
			}
			wk.client = c
			f.mu.Lock()
			f.registered = append(f.registered, c)
			f.mu.Unlock()
			f.firstRegOnce.Do(func() { close(f.firstReg) })
			return nil
		},
		"authorize": func(ctx context.Context, w int) error {
			wk := f.workers[w]
			code, verifier, err := f.as.Authorize(ctx, wk.client, "weather:read stocks:read")
			if err != nil {
				return err
			}
			wk.code, wk.verifier, wk.next = code, verifier, 0
			return nil
		},
		"exchange": func(ctx context.Context, w int) error {
			wk := f.workers[w]
			code := wk.code
			t, err := track(f, w, func() (*harness.Tokens, error) { return f.as.Exchange(ctx, wk.client, code, wk.verifier) })
			if err != nil {
				wk.startOverAfter(err)
				return err
			}
			f.mu.Lock()
			f.spentCodes = append(f.spentCodes, spent{client: wk.client, value: code, verifier: wk.verifier})
			f.mu.Unlock()
			wk.code, wk.tokens, wk.mcp = "", t, nil
			return nil
		},
		"refresh": func(ctx context.Context, w int) error {
			wk := f.workers[w]
			old := wk.tokens.RefreshToken
			t, err := track(f, w, func() (*harness.Tokens, error) { return f.as.Refresh(ctx, wk.client, old) })
			if err != nil {
				wk.startOverAfter(err)
				return err
			}
			f.mu.Lock()
			f.spentRTs = append(f.spentRTs, spent{client: wk.client, value: old})
			f.mu.Unlock()
			wk.tokens, wk.next = t, wk.next+1
			if wk.mcp != nil {
				wk.mcp.Token = t.AccessToken
			}
			return nil
		},
		"tools/call": func(ctx context.Context, w int) error {
			wk := f.workers[w]
			if wk.mcp == nil {
				s, err := harness.OpenMCP(ctx, f.as.HTTP, f.as.Resource, wk.tokens.AccessToken)
				if err != nil {
					return err
				}
				wk.mcp = s
			}
			tool, args := "weather_forecast", map[string]any{"city": "Lyon", "days": 2}
			if wk.next%2 == 1 {
				tool, args = "stock_quotes", map[string]any{"symbols": []string{"ACME"}}
			}
			wk.next++
			return wk.mcp.CallTool(ctx, tool, args)
		},
	}
}

// startOverAfter makes the worker authorize again after a server error on a code exchange or
// refresh, as a real client would: the code or refresh token may have been spent.
func (wk *worker) startOverAfter(err error) {
	var se *harness.StatusError
	if errors.As(err, &se) && se.Status >= 500 {
		wk.code, wk.tokens, wk.mcp = "", nil, nil
	}
}

// track runs a write and marks the worker in flight until it is answered (so a kill during the
// write leaves its outcome unknown, and the checks skip it).
func track[T any](f *fleet, w int, write func() (T, error)) (T, error) {
	f.mu.Lock()
	f.inFlight[w] = true
	f.mu.Unlock()
	v, err := write()
	var se *harness.StatusError
	// A 4xx answer says the write did not happen; a 5xx (or no answer) leaves it unknown.
	if err == nil || errors.As(err, &se) && se.Status < 500 {
		f.mu.Lock()
		delete(f.inFlight, w)
		f.mu.Unlock()
	}
	if err == nil {
		select {
		case f.progress <- struct{}{}:
		default:
		}
	}
	return v, err
}

// waitProgress waits until n more writes have been acknowledged.
func (f *fleet) waitProgress(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(time.Minute)
	for range n {
		select {
		case <-f.progress:
		case <-timeout:
			t.Fatalf("fewer than %d writes acknowledged in a minute", n)
		}
	}
}

// verify checks, after a run (and after a crash and restart), that no acknowledged write was
// lost and that no spent code or refresh token works again:
//   - every acknowledged registration still exists (an authorization request for it succeeds);
//   - every worker's latest tokens still refresh (the last acknowledged exchange or rotation of
//     its grant is durable), except workers whose last write got no answer;
//   - every acknowledged code and spent refresh token is refused with invalid_grant.
func (f *fleet) verify(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.registered {
		if _, _, err := f.as.Authorize(ctx, c, "weather:read"); err != nil {
			t.Errorf("registered client lost: authorization for it: %v", err)
		}
	}
	live := 0
	for w, wk := range f.workers {
		if f.inFlight[w] || wk.tokens == nil {
			continue
		}
		live++
		if _, err := f.as.Refresh(ctx, wk.client, wk.tokens.RefreshToken); err != nil {
			t.Errorf("worker %d: its last acknowledged refresh token does not work: %v", w, err)
		}
	}
	for _, sp := range f.spentCodes {
		_, err := f.as.Exchange(ctx, sp.client, sp.value, sp.verifier)
		refused(t, "a redeemed code", err)
	}
	for _, sp := range f.spentRTs {
		_, err := f.as.Refresh(ctx, sp.client, sp.value)
		refused(t, "a rotated refresh token", err)
	}
	t.Logf("verified %d registrations, %d live grants, %d redeemed codes and %d rotated refresh tokens",
		len(f.registered), live, len(f.spentCodes), len(f.spentRTs))
	if len(f.registered) == 0 || live == 0 || len(f.spentCodes) == 0 || len(f.spentRTs) == 0 {
		t.Errorf("the run wrote too little to verify anything")
	}
}

// refused checks that a replay was answered 400 invalid_grant.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var se *harness.StatusError
	if !errors.As(err, &se) || se.Status != 400 || se.Code != "invalid_grant" {
		t.Errorf("%s presented again: got %v, want HTTP 400 invalid_grant", what, err)
	}
}
