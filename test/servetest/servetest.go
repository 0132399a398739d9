// Package servetest runs `mcpauth serve` (mcpauth's authorization server and
// the protected example MCP server in one process) as a subprocess for
// interop tests, and reads its JSON audit log.
package servetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running `mcpauth serve`.
type Server struct {
	MCPURL  string // the MCP endpoint, also the resource
	Issuer  string // the authorization server (the origin)
	DataDir string // --data: the SQLite database and the key file

	mu      sync.Mutex
	stderr  bytes.Buffer
	written chan struct{} // a signal after each write to stderr
}

// Start runs `mcpauth serve` (bin is the binary, see testenv.BuildBinary)
// on an ephemeral loopback port with a fresh data directory (SQLite unless
// the flags say --postgres), JSON logs and the extra flags (e.g.
// "--dev-login", "alice"). It is stopped when the test ends.
func Start(t *testing.T, bin string, flags ...string) *Server {
	t.Helper()
	dataDir := t.TempDir()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--log-json"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{DataDir: dataDir, written: make(chan struct{}, 1)}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		n, err := s.stderr.Write(p)
		s.mu.Unlock()
		select {
		case s.written <- struct{}{}:
		default:
		}
		return n, err
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "give this to clients): "); ok {
				urls <- strings.TrimSpace(u)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s.MCPURL = <-urls:
	case <-time.After(60 * time.Second):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("mcpauth serve printed no MCP URL in 60s; stderr:\n%s", s.stderr.String())
	}
	s.Issuer = strings.TrimSuffix(s.MCPURL, "/mcp")
	return s
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Audit returns the audit records logged so far (the JSON log records with
// an "audit" attribute), in order.
func (s *Server) Audit() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []map[string]any
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["audit"] != nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

// Sync returns once every audit record the server logged before the call has
// been read: it sends an invalid registration, which the server audits as
// "registration.refused", and waits for that record.
func (s *Server) Sync(t *testing.T) {
	t.Helper()
	want := AuditCounts(s.Audit())["registration.refused"] + 1
	resp, err := http.Post(s.Issuer+"/register", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("sync with the audit log: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("sync with the audit log: an empty registration was accepted (%d)", resp.StatusCode)
	}
	timeout := time.After(30 * time.Second)
	for AuditCounts(s.Audit())["registration.refused"] < want {
		select {
		case <-s.written:
		case <-timeout:
			t.Fatal("sync with the audit log: no registration.refused record after 30s")
		}
	}
}

// AuditCounts tallies audit records by event (e.g. "client.registered",
// "code.issued", "token.issued").
func AuditCounts(recs []map[string]any) map[string]int {
	n := map[string]int{}
	for _, r := range recs {
		if ev, ok := r["audit"].(string); ok {
			n[ev]++
		}
	}
	return n
}
