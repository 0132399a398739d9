package load

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/client"
)

// TestConcurrent401sAuthorizeOnce: 100 goroutines of one client.Client send MCP requests to
// mcpauth serve without a token at the same moment; every one gets 401, and the client runs
// exactly one authorization (one browser opening, one code exchanged at the server) for all
// of them, after which every request succeeds.
func TestConcurrent401sAuthorizeOnce(t *testing.T) {
	s := startServer(t, "sqlite")
	var opened atomic.Int32
	c, err := client.New(client.Config{
		ServerURL: s.MCPURL, ClientName: "race client", Store: client.NewMemoryStore(), Stderr: io.Discard,
		// The "browser": dev login approves at once; following the redirects lands on the
		// client's loopback callback.
		OpenBrowser: func(ctx context.Context, authURL string) error {
			opened.Add(1)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			return resp.Body.Close()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient()
	start := make(chan struct{})
	var wg sync.WaitGroup
	statuses := make([]int, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, s.MCPURL, strings.NewReader(
				`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"race","version":"1"}}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := hc.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i := range racers {
		if errs[i] != nil || statuses[i] != http.StatusOK {
			t.Errorf("request %d: status %d, error %v", i, statuses[i], errs[i])
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("the browser was opened %d times for %d concurrent 401s, want 1", n, racers)
	}
	if n := metric(t, s, `mcpauth_tokens_issued_total{grant_type="authorization_code"}`); n != 1 {
		t.Errorf("the server issued %v tokens for authorization codes, want 1", n)
	}
}

// metric returns the value of one sample of the server's /metrics (0 when absent).
func metric(t *testing.T, s *server, sample string) float64 {
	t.Helper()
	resp, err := http.Get(s.Issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return 0
}
