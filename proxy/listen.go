// The standalone SSE stream of Streamable HTTP: messages the server sends outside any request
// (MCP 2025-06-18 "Transports" §2.2.3 "Listening for Messages from the Server"; removed for
// 2026-07-28 by SEP-2575, whose clients ask with a subscriptions/listen request instead).
package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// noStandaloneStream is the first protocol version without the standalone GET stream.
const noStandaloneStream = "2026-07-28"

// maxEventSize bounds one SSE event of the standalone stream (the sum of its data lines).
const maxEventSize = 8 << 20

// startListening opens the standalone stream of remote session gen once the server has
// been sent notifications/initialized (as the TypeScript SDK does), so that notifications
// such as notifications/tools/list_changed reach the host between requests. It does nothing for the legacy HTTP+SSE transport (its one stream already carries
// everything), for a server without sessions, and for protocol versions without the stream.
func (b *bridge) startListening(conn mcp.Connection, gen int) {
	sessionID := conn.SessionID()
	if k, ok := b.dialer.current(); sessionID == "" || !ok || k != streamable || b.version.get() >= noStandaloneStream {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.mu.Lock()
	if gen != b.gen || b.remote == nil {
		b.mu.Unlock()
		cancel()
		return
	}
	b.stopListening = cancel
	b.mu.Unlock()
	go b.listen(ctx, sessionID)
}

// isInitialized reports the initialized notification that completes a session's handshake.
func isInitialized(msg jsonrpc.Message) bool {
	req, ok := msg.(*jsonrpc.Request)
	return ok && !req.IsCall() && req.Method == "notifications/initialized"
}

// listen reads the standalone stream of session sessionID until ctx ends (the session was dropped
// or the bridge closed) or the server shows it offers no such stream. A stream that ends is
// opened again, resuming after the last event received (Last-Event-ID) when the server
// numbers its events.
func (b *bridge) listen(ctx context.Context, sessionID string) {
	lastID := ""
	delay := time.Second
	for ctx.Err() == nil {
		resp, err := b.openStream(ctx, sessionID, lastID)
		if err == nil && resp.StatusCode == http.StatusBadRequest && lastID != "" {
			// The server cannot replay (go-sdk without an event store answers 400): listen
			// afresh; what it sent while the stream was closed is lost.
			resp.Body.Close()
			b.log.Info("mcpauth proxy: the server cannot resume its stream of notifications; some may be lost")
			lastID = ""
			resp, err = b.openStream(ctx, sessionID, "")
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Info("mcpauth proxy: opening the stream of server notifications", "err", err)
		} else {
			stop, retry := b.handleStream(resp, &lastID)
			if stop {
				return
			}
			if retry > 0 {
				delay = retry
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// openStream sends the GET that opens the standalone stream.
func (b *bridge) openStream(ctx context.Context, sessionID, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sessionID)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	return b.dialer.client.Do(req)
}

// handleStream copies the events of one response to the host. stop reports that listening
// should end: the server offers no standalone stream (405, or anything but an event stream),
// or the session is gone (404). retry is the reconnection delay the server asked for.
func (b *bridge) handleStream(resp *http.Response, lastID *string) (stop bool, retry time.Duration) {
	defer resp.Body.Close()
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return true, 0 // the session is gone; the next request opens a new one
	case resp.StatusCode == http.StatusOK && mediaType == "text/event-stream":
	case resp.StatusCode == http.StatusMethodNotAllowed, resp.StatusCode < 500:
		b.log.Debug("mcpauth proxy: the server offers no stream of notifications", "status", resp.StatusCode)
		return true, 0
	default:
		b.log.Info("mcpauth proxy: the stream of server notifications failed", "status", resp.StatusCode)
		return false, 0
	}
	err := readEvents(resp.Body, func(ev event) {
		if ev.id != "" {
			*lastID = ev.id
		}
		if ev.retry > 0 {
			retry = ev.retry
		}
		if len(ev.data) == 0 || (ev.name != "" && ev.name != "message") {
			return
		}
		msg, err := jsonrpc.DecodeMessage(ev.data)
		if err != nil {
			b.log.Warn("mcpauth proxy: ignoring an unreadable message of the server", "err", err)
			return
		}
		if r, ok := msg.(*jsonrpc.Response); ok && b.consume(r) {
			return
		}
		b.writeLocal(msg)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		b.log.Info("mcpauth proxy: the stream of server notifications ended", "err", err)
	}
	return false, retry
}

// event is one server-sent event (HTML Living Standard, "Server-sent events", §9.2.6
// "Interpreting an event stream").
type event struct {
	name  string // the event field; empty means "message"
	id    string // the id field, empty when the event has none
	data  []byte // the data lines joined by "\n"
	retry time.Duration
}

// errEventTooLarge reports an event above maxEventSize.
var errEventTooLarge = fmt.Errorf("proxy: a server-sent event is larger than %d bytes", maxEventSize)

// readEvents calls fn for each event of an event stream until r ends. A line or an event
// larger than maxEventSize ends the stream with errEventTooLarge.
func readEvents(r io.Reader, fn func(event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEventSize)
	sc.Split(scanLines)
	var ev event
	hasData := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // dispatch
			if hasData || ev.retry > 0 || ev.id != "" {
				fn(ev)
			}
			ev, hasData = event{id: ev.id}, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if hasData {
				ev.data = append(ev.data, '\n')
			}
			if len(ev.data)+len(value) > maxEventSize {
				return errEventTooLarge
			}
			ev.data = append(ev.data, value...)
			hasData = true
		case "event":
			ev.name = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.id = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 31); err == nil {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return errEventTooLarge
	}
	return sc.Err()
}

// scanLines splits an event stream into lines ended by CRLF, LF or CR.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, c := range data {
		switch c {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // a CR at the end of the buffer: wait for a possible LF
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
