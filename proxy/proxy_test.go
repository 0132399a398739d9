package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// remoteServer is a go-sdk MCP server with one tool, over Streamable HTTP or legacy SSE.
func remoteServer(t *testing.T, sse bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	calls := &atomic.Int32{}
	server := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "count"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct{}) (*mcp.CallToolResult, any, error) {
		n := calls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(rune('0' + n))}}}, nil, nil
	})
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	if sse {
		h = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "1" {
			http.Error(w, "the configured header is missing", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

// host connects a go-sdk client, playing the desktop host, to a bridge running Run; it
// returns the session and a channel with Run's result once the host closes.
func host(t *testing.T, cfg Config) (*mcp.ClientSession, <-chan error) {
	t.Helper()
	hostR, hostW, done := startBridge(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "host", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: hostR, Writer: hostW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Before the test server closes (cleanups run last first): the bridge's standalone stream
	// would keep the server's Close waiting.
	t.Cleanup(func() { cs.Close() })
	return cs, done
}

// startBridge runs Run on a pair of pipes and returns the host's ends and Run's result.
func startBridge(t *testing.T, cfg Config) (hostR *io.PipeReader, hostW *io.PipeWriter, done <-chan error) {
	t.Helper()
	hostR, bridgeW := io.Pipe()
	bridgeR, hostW := io.Pipe()
	local, err := (&mcp.IOTransport{Reader: bridgeR, Writer: bridgeW}).Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- Run(context.Background(), local, cfg) }()
	return hostR, hostW, result
}

func TestRunTransports(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sse      bool
		strategy Strategy
	}{
		{"streamable, http-first", false, HTTPFirst},
		{"streamable, http-only", false, HTTPOnly},
		{"legacy SSE, http-first falls back", true, HTTPFirst},
		{"legacy SSE, sse-only", true, SSEOnly},
		{"streamable, sse-first falls back", false, SSEFirst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := remoteServer(t, tc.sse)
			cs, done := host(t, Config{URL: srv.URL, Transport: tc.strategy, Header: http.Header{"X-Test": {"1"}}})
			ctx := context.Background()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "count" {
				t.Fatalf("tools/list: %v %+v", err, tools)
			}
			for want := int32(1); want <= 2; want++ {
				if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "count"}); err != nil {
					t.Fatalf("tools/call: %v", err)
				}
				if calls.Load() != want {
					t.Fatalf("the tool ran %d times, want %d", calls.Load(), want)
				}
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Fatalf("ping: %v", err)
			}
			cs.Close() // the host closes stdin: the bridge ends cleanly
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after the host closed its side")
			}
		})
	}
}

func TestRunRefusesUnknownStrategy(t *testing.T) {
	if err := Run(context.Background(), nil, Config{URL: "http://127.0.0.1:1/mcp", Transport: "carrier-pigeon"}); err == nil {
		t.Fatal("an unknown strategy was accepted")
	}
	if err := Strategy("sse-only").Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRunDoesNotResendAfterDrop: the connection drops while a tool call is running on the
// server. The call may have run, so the host gets an error instead of a second run; the
// next call goes through a new session.
func TestRunDoesNotResendAfterDrop(t *testing.T) {
	calls := &atomic.Int32{}
	started, release := make(chan struct{}, 1), make(chan struct{})
	server := mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, in struct{}) (*mcp.CallToolResult, any, error) {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	t.Cleanup(srv.Close)
	defer close(release)
	cs, _ := host(t, Config{URL: srv.URL, Transport: HTTPOnly})
	ctx := context.Background()

	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
		errc <- err
	}()
	<-started
	srv.CloseClientConnections()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the interrupted call succeeded; want an error")
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the interrupted call got no answer")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the tool ran %d times, want once", n)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"}); err != nil {
		t.Fatalf("the next call: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the tool ran %d times, want 2", n)
	}
}
