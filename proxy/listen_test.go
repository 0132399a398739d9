package proxy

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawHost plays a desktop host speaking JSON-RPC lines on the bridge's stdio, as Claude
// Desktop does with protocol version 2025-06-18.
type rawHost struct {
	t     *testing.T
	w     io.Writer
	lines chan string
}

func startRawHost(t *testing.T, cfg Config) *rawHost {
	t.Helper()
	hostR, hostW, done := startBridge(t, cfg)
	t.Cleanup(func() {
		hostW.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after the host closed stdin")
		}
	})
	h := &rawHost{t: t, w: hostW, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(hostR)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	return h
}

func (h *rawHost) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.w, line+"\n"); err != nil {
		h.t.Fatal(err)
	}
}

// await returns the first line the bridge writes that contains want.
func (h *rawHost) await(want string) string {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				h.t.Fatalf("stdout closed while waiting for %s", want)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			h.t.Fatalf("no message with %s", want)
		}
	}
}

// streamSignal tells when the server accepts a standalone stream (answers a GET with 200).
type streamSignal struct {
	http.ResponseWriter
	accepted chan<- struct{}
}

func (w *streamSignal) WriteHeader(code int) {
	if code == http.StatusOK {
		w.accepted <- struct{}{}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *streamSignal) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestRelaysServerNotificationsBetweenRequests: a tool added on the server while the host
// sends nothing reaches the host as notifications/tools/list_changed, through the standalone
// stream the bridge opens; after that stream is cut, the bridge opens it again and the next
// notification arrives too; after a server restart (sessions lost), the new session the
// bridge opens gets its own stream.
func TestRelaysServerNotificationsBetweenRequests(t *testing.T) {
	var server atomic.Pointer[mcp.Server]
	addTool := func(name string) {
		mcp.AddTool(server.Load(), &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	}
	var handler atomic.Pointer[http.Handler]
	start := func() { // a (re)started server: new sessions, one tool
		server.Store(mcp.NewServer(&mcp.Implementation{Name: "remote", Version: "1"}, nil))
		addTool("first")
		var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server.Load() }, nil)
		handler.Store(&h)
	}
	start()
	streams := make(chan struct{}, 10) // one per standalone stream the server accepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w = &streamSignal{ResponseWriter: w, accepted: streams}
		}
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	host := startRawHost(t, Config{URL: srv.URL, Transport: HTTPOnly})
	host.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"desktop","version":"1"}}}`)
	host.await(`"id":1`)
	host.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	host.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	host.await(`"first"`)
	awaitStream := func() {
		t.Helper()
		select {
		case <-streams:
		case <-time.After(20 * time.Second):
			t.Fatal("the bridge opened no standalone stream")
		}
	}
	awaitStream()

	addTool("second")
	host.await(`"method":"notifications/tools/list_changed"`)

	srv.CloseClientConnections() // cuts the standalone stream
	awaitStream()
	addTool("third")
	host.await(`"method":"notifications/tools/list_changed"`)
	host.send(`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	if line := host.await(`"id":3`); !strings.Contains(line, `"third"`) {
		t.Fatalf("tools/list after the notifications: %s", line)
	}

	start() // the server restarts: the bridge's session is unknown to it (404)
	host.send(`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`)
	if line := host.await(`"id":4`); !strings.Contains(line, `"first"`) || strings.Contains(line, `"third"`) {
		t.Fatalf("tools/list after the restart: %s", line)
	}
	awaitStream()
	addTool("after-restart")
	host.await(`"method":"notifications/tools/list_changed"`)
}

func TestReadEvents(t *testing.T) {
	stream := ": a comment\r\n" +
		"retry: 2500\r\n" +
		"id: 7\r\n" +
		"data: {\"a\":\r\n" +
		"data:1}\r\n" +
		"\r\n" +
		"event: ping\n" +
		"data: x\n" +
		"\n" +
		"data: same id\r" +
		"\r" +
		"id\n" +
		"data: no id\n" +
		"\n" +
		"data: never dispatched"
	var got []event
	if err := readEvents(strings.NewReader(stream), func(ev event) { got = append(got, ev) }); err != nil {
		t.Fatal(err)
	}
	want := []event{
		{id: "7", data: []byte("{\"a\":\n1}"), retry: 2500 * time.Millisecond},
		{name: "ping", id: "7", data: []byte("x")},
		{id: "7", data: []byte("same id")},
		{data: []byte("no id")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].id != want[i].id || string(got[i].data) != string(want[i].data) || got[i].retry != want[i].retry {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadEventsRefusesHugeEvent(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n"
	err := readEvents(strings.NewReader(strings.Repeat(line, 9)+"\n"), func(event) { t.Fatal("an oversized event was dispatched") })
	if err != errEventTooLarge {
		t.Fatalf("err = %v, want errEventTooLarge", err)
	}
	err = readEvents(strings.NewReader("data: "+strings.Repeat("x", maxEventSize+1)), func(event) {})
	if err != errEventTooLarge {
		t.Fatalf("one long line: err = %v, want errEventTooLarge", err)
	}
}

// FuzzReadEvents: any byte stream from a server parses without panic, and every event keeps
// within maxEventSize and carries no line break in its id or name, and no NUL in its id.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("id: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\r\n\r\n"))
	f.Add([]byte("retry: 10\n\ndata: a\rdata: b\r\r: c\nevent: message\ndata\n\n"))
	f.Add([]byte("id: \x00\ndata:\n\n\r"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		readEvents(strings.NewReader(string(stream)), func(ev event) {
			if len(ev.data) > maxEventSize {
				t.Fatalf("event of %d bytes", len(ev.data))
			}
			// The event stream format lets an event type hold NUL; only the last event ID
			// (sent back in Last-Event-ID) must not (HTML "Event stream interpretation").
			if strings.ContainsAny(ev.id, "\r\n\x00") || strings.ContainsAny(ev.name, "\r\n") {
				t.Fatalf("id %q holds a line break or NUL, or name %q a line break", ev.id, ev.name)
			}
			if ev.retry < 0 {
				t.Fatalf("negative retry %v", ev.retry)
			}
		})
	})
}
