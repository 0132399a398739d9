package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// countingServe runs `mcpauth serve --dev-login alice` in process behind a wrapper that
// counts the OAuth requests reaching it (the authorization server has no counter of its own
// for these; the wrapper only counts, it changes nothing).
type countingServe struct {
	mcpURL                        string
	registrations, authorizations atomic.Int32
	codeExchanges, refreshes      atomic.Int32
}

func startCountingServe(t *testing.T) *countingServe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := newService(ctx, serveOptions{data: t.TempDir(), devLogin: "alice", registration: "open",
		userRate: 0, clientRate: 0, accessTokenTTL: time.Hour}, ln.Addr().String(), quiet)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cs := &countingServe{mcpURL: svc.mcpURL}
	next := svc.handler
	svc.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/register":
			cs.registrations.Add(1)
		case r.URL.Path == "/authorize":
			cs.authorizations.Add(1)
		case r.Method == http.MethodPost && r.URL.Path == "/token":
			r.ParseForm()
			switch r.PostForm.Get("grant_type") {
			case "refresh_token":
				cs.refreshes.Add(1)
			case "authorization_code":
				cs.codeExchanges.Add(1)
			}
		}
		next.ServeHTTP(w, r)
	})
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx, ln, quiet) }()
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	return cs
}

// proxyEnv is the environment of a proxy run by a test: its own store, no display, and a
// "browser" only when one is given.
func proxyEnv(configDir, browser string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DISPLAY", "WAYLAND_DISPLAY", "BROWSER", client.ConfigDirEnv:
			continue
		}
		env = append(env, kv)
	}
	env = append(env, client.ConfigDirEnv+"="+configDir)
	if browser != "" {
		env = append(env, "BROWSER="+browser)
	}
	return env
}

// testBrowser returns a $BROWSER command that completes the dev login: a fetch that follows
// the authorization server's redirect to the client's loopback callback.
func testBrowser(t *testing.T) string {
	return testenv.Node(t) + " " + filepath.Join(testenv.RepoRoot(t), "test", "stdiohost", "browser.mjs")
}

const hostSession = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test-host","version":"1"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
`

// runHostSession runs `mcpauth proxy URL` as a host would: initialize, tools/list, then
// closes stdin once the tools arrived. It returns the proxy's stdout and stderr.
func runHostSession(ctx context.Context, bin, mcpURL string, env []string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, bin, "proxy", mcpURL)
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", err
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	in.Write([]byte(hostSession))
	var got strings.Builder
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), `{"jsonrpc":"2.0","id":2,`) {
			break
		}
	}
	in.Close()
	err = cmd.Wait()
	return got.String(), errBuf.String(), err
}

func TestProxyWithoutTerminalOrCredentialsExits3(t *testing.T) {
	srv := startCountingServe(t)
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	cmd := exec.Command(bin, "proxy", srv.mcpURL)
	cmd.Env = proxyEnv(t.TempDir(), "")
	cmd.Stdin = strings.NewReader("") // a pipe, as from a desktop host: not a terminal
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNeedLogin {
		t.Fatalf("exit: %v, want code %d; stderr:\n%s", err, exitNeedLogin, stderr.String())
	}
	if elapsed > time.Second {
		t.Errorf("took %v, want under a second", elapsed)
	}
	if want := "mcpauth login " + srv.mcpURL; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not name the command to run (%q)", stderr.String(), want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout carries %q; it is for JSON-RPC only", stdout.String())
	}
	if n := srv.registrations.Load() + srv.authorizations.Load(); n != 0 {
		t.Errorf("%d registration/authorization requests, want none", n)
	}
}

// TestTenProxiesOneLoginOneRefresh starts ten proxies at once for a server without stored
// credentials (exactly one registration and one authorization at the AS), then ten more at
// once with the stored access token expired (exactly one refresh). One more proxy is killed
// while it holds the store lock first: the kernel releases its flock and nobody waits.
func TestTenProxiesOneLoginOneRefresh(t *testing.T) {
	srv := startCountingServe(t)
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	dir := t.TempDir()
	env := proxyEnv(dir, testBrowser(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	runTen := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() {
				out, stderr, err := runHostSession(ctx, bin, srv.mcpURL, env)
				if err != nil || !strings.Contains(out, "weather_forecast") {
					errs <- fmt.Errorf("proxy: %v; stdout %q; stderr:\n%s", err, out, stderr)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}

	runTen()
	if r, a, c := srv.registrations.Load(), srv.authorizations.Load(), srv.codeExchanges.Load(); r != 1 || a != 1 || c != 1 {
		t.Fatalf("ten proxies without credentials: %d registrations, %d authorizations, %d code exchanges; want 1 each", r, a, c)
	}

	// Expire the stored access token; its refresh token stays valid.
	store := client.NewFileStore(dir)
	es, err := storedEntries(ctx, dir, "")
	if err != nil || len(es) != 1 || es[0].Token == nil || es[0].Token.RefreshToken == "" {
		t.Fatalf("stored entries %v (err %v), want one with a refresh token", es, err)
	}
	es[0].Token.Expiry = time.Now().Add(-time.Minute)
	if err := store.Put(ctx, es[0]); err != nil {
		t.Fatal(err)
	}

	// A holder that dies with the lock must not block the others.
	holder := exec.Command(os.Args[0], "-test.run=^TestHoldStoreLock$")
	holder.Env = append(os.Environ(), "MCPAUTH_TEST_HOLD_LOCK="+dir, "MCPAUTH_TEST_HOLD_RESOURCE="+srv.mcpURL)
	holderOut, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(holderOut).ReadString('\n'); !strings.Contains(line, "locked") {
		t.Fatalf("lock holder said %q", line)
	}
	holder.Process.Kill()
	holder.Wait()

	runTen()
	if r, a, f := srv.registrations.Load(), srv.authorizations.Load(), srv.refreshes.Load(); r != 1 || a != 1 || f != 1 {
		t.Fatalf("ten proxies with an expired token: %d refreshes (want 1); registrations %d and authorizations %d (want still 1)", f, r, a)
	}
}

// TestHoldStoreLock is the lock holder of TestTenProxiesOneLoginOneRefresh, run as a child
// process: it takes the store lock, says so, and waits to be killed.
func TestHoldStoreLock(t *testing.T) {
	dir := os.Getenv("MCPAUTH_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("run by TestTenProxiesOneLoginOneRefresh")
	}
	if _, err := client.LockServer(context.Background(), dir, os.Getenv("MCPAUTH_TEST_HOLD_RESOURCE")); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // killed by the parent long before
}
