package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the server's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeWritesEveryAuditRecordOnShutdown: the log reaches stderr in batches
// (authserver.LogWriter), and a clean stop right after a burst of audited requests still
// leaves every record, whole and in order, before the shutdown line.
func TestServeWritesEveryAuditRecordOnShutdown(t *testing.T) {
	data := t.TempDir()
	out, err := runCLI(t, "", "clients", "add", "--data", data, "--name", "Backend", "--confidential",
		"--grant-types", "client_credentials")
	id, secret := regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out), regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if err != nil || id == nil || secret == nil {
		t.Fatalf("clients add: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := runServe(ctx, serveOptions{addr: "127.0.0.1:0", data: data, logJSON: true}, pw, stderr)
		pw.Close()
		done <- err
	}()
	var printed string
	buf := make([]byte, 4096)
	for !strings.Contains(printed, "/mcp\n") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("serve output %q: %v", printed, err)
		}
		printed += string(buf[:n])
	}
	go io.Copy(io.Discard, pr)
	_, after, _ := strings.Cut(printed, "give this to clients): ")
	issuer := strings.TrimSuffix(strings.TrimSpace(after), "/mcp")
	const n = 200
	for range n { // each token is audited as token.issued
		req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id[1], secret[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("client_credentials: HTTP %d", resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after shutdown", err)
	}
	issued, shutdown := 0, false
	for line := range strings.Lines(stderr.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line not whole JSON: %q", line)
		}
		switch {
		case rec["audit"] == "token.issued":
			if shutdown {
				t.Fatal("an audit record after the shutdown line")
			}
			issued++
		case rec["msg"] == "shutting down":
			shutdown = true
		}
	}
	if issued != n || !shutdown {
		t.Errorf("%d token.issued records (want %d), shutdown line %v", issued, n, shutdown)
	}
}
