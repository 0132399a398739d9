package client

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestConnectRegistersAuthorizesAndCalls(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, b))
	defer s.Close()
	if got := callEcho(t, ctx, s, "hi"); got != "echo: hi" {
		t.Fatalf("echo = %q", got)
	}
	if n := as.count("register"); n != 1 {
		t.Errorf("registrations = %d, want 1", n)
	}
	if n := b.count(); n != 1 {
		t.Errorf("authorizations = %d, want 1", n)
	}
}

// syncBuffer is an io.Writer safe for concurrent use that signals each write.
type syncBuffer struct {
	mu     sync.Mutex
	b      strings.Builder
	writes chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	select {
	case s.writes <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoBrowserPrintsURL: with NoBrowser the URL is only printed to Stderr (it always is),
// the browser hook is not called, and the user opening the printed URL completes the login.
func TestNoBrowserPrintsURL(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	hook := &headlessBrowser{}
	stderr := &syncBuffer{writes: make(chan struct{}, 1)}
	cfg := testConfig(rs, hook)
	cfg.NoBrowser = true
	cfg.Stderr = stderr
	ctx := testContext(t)
	user := &headlessBrowser{}
	go func() {
		<-stderr.writes
		for _, f := range strings.Fields(stderr.String()) {
			if strings.HasPrefix(f, as.issuer+"/authorize?") {
				user.open(ctx, f)
			}
		}
	}()
	s := mustConnect(t, ctx, cfg)
	s.Close()
	if hook.count() != 0 || user.count() != 1 {
		t.Fatalf("browser hook called %d times, user opened %d URLs; want 0 and 1", hook.count(), user.count())
	}
	if !strings.Contains(stderr.String(), "open this URL in your browser") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}

// TestRedirectPort: a fixed callback port is used in the registered redirect URI.
func TestRedirectPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // free it for the client (a race with other processes is unlikely on loopback)
	as := newTestAS(t)
	rs := newTestRS(t, as)
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.RedirectPort = port
	s := mustConnect(t, testContext(t), cfg)
	s.Close()
	want := fmt.Sprintf("http://127.0.0.1:%d/callback", port)
	if got := as.authReqs[0].Get("redirect_uri"); got != want {
		t.Fatalf("redirect_uri = %q, want %q", got, want)
	}
}

// TestConnectWithoutAuthorization: a server that asks for nothing gets no OAuth request and
// no token; nothing is stored.
func TestConnectWithoutAuthorization(t *testing.T) {
	server := mcp.NewServer(&mcp.Implementation{Name: "open", Version: "1"}, nil)
	url := httptestServer(t, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	b := &headlessBrowser{}
	store := NewMemoryStore()
	ctx := testContext(t)
	s := mustConnect(t, ctx, Config{ServerURL: url, Store: store, OpenBrowser: b.open, Stderr: io.Discard})
	s.Close()
	if entries, _ := store.List(ctx, url); b.count() != 0 || len(entries) != 0 {
		t.Fatalf("%d authorizations, %d stored entries; want none", b.count(), len(entries))
	}
}
