package oidcinterop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/testenv"
)

// event is one JSON line that provider.mjs writes on stdout.
type event struct {
	Event      string  `json:"event"`
	Issuer     string  `json:"issuer"`
	ClientID   string  `json:"client_id"`
	GrantType  string  `json:"grant_type"`
	Resource   *string `json:"resource"`
	Scope      *string `json:"scope"`
	PKCEMethod *string `json:"code_challenge_method"`
	AuthMethod string  `json:"token_endpoint_auth_method"`
	AppType    string  `json:"application_type"`
	URL        string  `json:"url"`
	Error      string  `json:"error"`
	Desc       string  `json:"description"`
	ID         string  `json:"id"`
}

// provider is a running oidc-provider (provider.mjs) and the events it logged.
type provider struct {
	issuer string

	mu     sync.Mutex
	events []event
	marked chan string // ids of "mark" events, to synchronise with the log
	marks  int
}

// startProvider starts provider.mjs for the MCP servers at resources. cimd maps
// https origins of Client ID Metadata Documents to the loopback servers that
// serve them; clients are pre-registered clients' metadata.
func startProvider(t *testing.T, resources []string, cimd map[string]string, clients ...map[string]any) *provider {
	t.Helper()
	node := testenv.Node(t)
	args := []string{"provider.mjs"}
	for _, r := range resources {
		args = append(args, "--resource", r)
	}
	for origin, target := range cimd {
		args = append(args, "--cimd-origin", origin+"="+target)
	}
	for _, c := range clients {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--client", string(b))
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = "." // provider.mjs imports oidc-provider from test/node_modules
	cmd.Env = append(cmd.Environ(), "NODE_ENV=test")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
		}
	})

	p := &provider{marked: make(chan string, 16)}
	ready := make(chan string, 1)
	go func() {
		defer close(done)
		defer func() { _ = cmd.Wait() }()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue // not one of our lines
			}
			switch e.Event {
			case "ready":
				ready <- e.Issuer
			case "mark":
				p.marked <- e.ID
			default:
				p.mu.Lock()
				p.events = append(p.events, e)
				p.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p.issuer = <-ready:
	case <-done:
		t.Fatalf("oidc-provider exited before it was ready:\n%s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("oidc-provider not ready after 60s:\n%s", stderr.String())
	}
	return p
}

// sync returns once every event the provider logged before this call has
// been read: it asks the provider to log a marker and waits for it.
func (p *provider) sync(t *testing.T) {
	t.Helper()
	p.marks++
	id := fmt.Sprint(p.marks)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.issuer+"/__test/mark?id="+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mark provider log: %v", err)
	}
	resp.Body.Close()
	for {
		select {
		case got := <-p.marked:
			if got == id {
				return
			}
		case <-ctx.Done():
			t.Fatalf("provider log marker %s not seen", id)
		}
	}
}

// snapshot returns the events logged so far (call sync first).
func (p *provider) snapshot() []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event(nil), p.events...)
}

// counts tallies events by kind ("token" events by "token:<grant_type>").
func counts(events []event) map[string]int {
	c := map[string]int{}
	for _, e := range events {
		k := e.Event
		if e.Event == "token" {
			k += ":" + e.GrantType
		}
		c[k]++
	}
	return c
}
