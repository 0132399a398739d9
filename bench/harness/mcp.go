// MCP over Streamable HTTP (MCP 2025-06-18 and later, basic/transports): initialize, then
// tools/call, as raw JSON-RPC POSTs so that each call is one timed request.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// MCPSession is one MCP session on a Streamable HTTP endpoint.
type MCPSession struct {
	HTTP  *http.Client
	URL   string
	Token string // bearer token; empty for an unprotected server
	id    string
	next  atomic.Int64
}

// OpenMCP initializes a session (initialize, then notifications/initialized).
func OpenMCP(ctx context.Context, hc *http.Client, endpoint, token string) (*MCPSession, error) {
	s := &MCPSession{HTTP: hc, URL: endpoint, Token: token}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	err := s.call(ctx, "initialize", map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "mcpauth-harness", "version": "1"},
	}, &init)
	if err != nil {
		return nil, err
	}
	if _, err := s.post(ctx, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}, http.StatusAccepted); err != nil {
		return nil, err
	}
	return s, nil
}

// CallTool calls a tool and fails unless it answered a result that is not a tool error.
func (s *MCPSession) CallTool(ctx context.Context, name string, args map[string]any) error {
	var res struct {
		IsError bool `json:"isError"`
	}
	if err := s.call(ctx, "tools/call", map[string]any{"name": name, "arguments": args}, &res); err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tools/call %s: tool error", name)
	}
	return nil
}

// call sends a request and decodes its result.
func (s *MCPSession) call(ctx context.Context, method string, params, result any) error {
	id := s.next.Add(1)
	body, err := s.post(ctx, map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}, http.StatusOK)
	if err != nil {
		return err
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return fmt.Errorf("%s: decode answer: %w", method, err)
	}
	if msg.Error != nil {
		return fmt.Errorf("%s: JSON-RPC error %d: %s", method, msg.Error.Code, msg.Error.Message)
	}
	return json.Unmarshal(msg.Result, result)
}

// post sends one JSON-RPC message and returns the JSON-RPC answer (from a JSON body or the first
// SSE data event).
func (s *MCPSession) post(ctx context.Context, msg any, want int) ([]byte, error) {
	b, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mcp: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		// The challenge says why a token was refused (it never holds the token).
		return nil, &StatusError{Op: "mcp", Status: resp.StatusCode, Code: resp.Header.Get("WWW-Authenticate")}
	}
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		s.id = id
	}
	if want != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, nil
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
			// The server ends the stream after the answer; reading to its end keeps the
			// connection reusable.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			return []byte(strings.TrimSpace(data)), nil
		}
	}
	return nil, fmt.Errorf("mcp: event stream ended without a message: %v", sc.Err())
}
