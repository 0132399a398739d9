// Choosing the remote transport: Streamable HTTP or the deprecated HTTP+SSE transport of
// 2024-11-05 (MCP specification, "Transports", "Backwards Compatibility"), and the headers of
// every request to the MCP server.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Strategy is the order in which the transports are tried (mcp-remote's --transport).
type Strategy string

const (
	HTTPFirst Strategy = "http-first" // Streamable HTTP, then SSE when the server refuses it
	SSEFirst  Strategy = "sse-first"  // SSE, then Streamable HTTP
	HTTPOnly  Strategy = "http-only"
	SSEOnly   Strategy = "sse-only"
)

type kind int

const (
	streamable kind = iota
	sse
)

func (k kind) String() string {
	if k == sse {
		return "HTTP+SSE"
	}
	return "Streamable HTTP"
}

// Validate reports an unknown strategy.
func (s Strategy) Validate() error {
	_, err := s.order()
	return err
}

func (s Strategy) order() ([]kind, error) {
	switch s {
	case HTTPFirst:
		return []kind{streamable, sse}, nil
	case SSEFirst:
		return []kind{sse, streamable}, nil
	case HTTPOnly:
		return []kind{streamable}, nil
	case SSEOnly:
		return []kind{sse}, nil
	}
	return nil, fmt.Errorf("proxy: unknown transport %q (want http-first, sse-first, http-only or sse-only)", string(s))
}

// dialer opens remote sessions. The transport that worked first is kept for the sessions
// that follow.
type dialer struct {
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	status  *statusRecorder
	mu      sync.Mutex
	chosen  []kind
	settled bool
}

func newDialer(cfg Config, v *protocolVersion, log *slog.Logger) *dialer {
	base := cfg.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	rec := &statusRecorder{next: rt}
	client := *base
	client.Transport = &headerTransport{header: cfg.Header, version: v, next: rec}
	order, _ := cfg.Transport.order()
	return &dialer{cfg: cfg, log: log, client: &client, status: rec, chosen: order}
}

// dial returns a new remote connection over the first transport of the strategy that
// connects. Streamable HTTP is proven only by the answer to initialize, so while another
// transport may follow it, dial returns a connection that falls back on that write. Once a
// transport worked, the next sessions use it alone.
func (d *dialer) dial(ctx context.Context) (mcp.Connection, error) {
	d.mu.Lock()
	order := d.chosen
	d.mu.Unlock()
	var errs []error
	for i, k := range order {
		conn, err := d.connect(ctx, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			if i+1 < len(order) && d.refused() {
				d.log.Info("mcpauth proxy: transport refused; trying the next", "transport", k.String())
				continue
			}
			return nil, errors.Join(errs...)
		}
		if k == streamable && i+1 < len(order) {
			return &fallbackConn{Connection: conn, d: d, rest: order[i+1:]}, nil
		}
		d.settle(k)
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

// settle keeps transport k for the next sessions.
func (d *dialer) settle(k kind) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.settled {
		d.settled = true
		d.chosen = []kind{k}
		d.log.Debug("mcpauth proxy: connected", "transport", k.String())
	}
}

// current returns the transport of the sessions once one worked (ok false before).
func (d *dialer) current() (k kind, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chosen[0], d.settled
}

func (d *dialer) connect(ctx context.Context, k kind) (mcp.Connection, error) {
	d.status.reset()
	if k == sse {
		return (&mcp.SSEClientTransport{Endpoint: d.cfg.URL, HTTPClient: d.client}).Connect(ctx)
	}
	return (&mcp.StreamableClientTransport{Endpoint: d.cfg.URL, HTTPClient: d.client, MaxRetries: 3}).Connect(ctx)
}

// refused reports whether the last answer of the server says it does not offer the transport
// just tried at this URL (404, 405, or 400 from a server expecting the other transport).
func (d *dialer) refused() bool {
	switch d.status.last() {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusBadRequest:
		return true
	}
	return false
}

// fallbackConn is a Streamable HTTP connection not yet proven: if the server refuses the
// initialize POST as a transport it does not offer, the next transport takes over.
type fallbackConn struct {
	mcp.Connection
	d    *dialer
	rest []kind
	mu   sync.Mutex
	next mcp.Connection
}

func (c *fallbackConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next != nil {
		return c.next.Write(ctx, msg)
	}
	err := c.Connection.Write(ctx, msg)
	if err == nil {
		c.d.settle(streamable)
		return nil
	}
	if !c.d.refused() || errors.Is(err, mcp.ErrSessionMissing) {
		return err
	}
	c.d.log.Info("mcpauth proxy: the server does not offer Streamable HTTP; trying HTTP+SSE")
	for _, k := range c.rest {
		conn, cerr := c.d.connect(ctx, k)
		if cerr != nil {
			return errors.Join(err, fmt.Errorf("%s: %w", k, cerr))
		}
		if werr := conn.Write(ctx, msg); werr != nil {
			conn.Close()
			return errors.Join(err, fmt.Errorf("%s: %w", k, werr))
		}
		c.d.settle(k)
		c.next = conn
		c.Connection.Close()
		return nil
	}
	return err
}

func (c *fallbackConn) current() mcp.Connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next != nil {
		return c.next
	}
	return c.Connection
}

func (c *fallbackConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	// The reader starts before the first write: wait on the Streamable HTTP connection, and
	// move to the fallback when the first one is closed by the switch.
	for {
		conn := c.current()
		msg, err := conn.Read(ctx)
		if err != nil && conn != c.current() {
			continue
		}
		return msg, err
	}
}

func (c *fallbackConn) Close() error { return c.current().Close() }

func (c *fallbackConn) SessionID() string { return c.current().SessionID() }

// headerTransport adds the configured headers and MCP-Protocol-Version to MCP requests.
type headerTransport struct {
	header  http.Header
	version *protocolVersion
	next    http.RoundTripper
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	for k, vs := range t.header {
		r.Header[k] = vs
	}
	if v := t.version.get(); v != "" && r.Header.Get("MCP-Protocol-Version") == "" {
		r.Header.Set("MCP-Protocol-Version", v)
	}
	return t.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transports below, so that a new
// session after a server restart does not start on a connection the old server closed.
func (t *headerTransport) CloseIdleConnections() { closeIdle(t.next) }

func (s *statusRecorder) CloseIdleConnections() { closeIdle(s.next) }

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// statusRecorder remembers the status of the last response, to tell a transport the server
// does not offer from other failures.
type statusRecorder struct {
	next   http.RoundTripper
	status atomic.Int32
}

func (s *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		s.status.Store(int32(resp.StatusCode))
	}
	return resp, err
}

func (s *statusRecorder) reset()    { s.status.Store(0) }
func (s *statusRecorder) last() int { return int(s.status.Load()) }

// protocolVersion is the version negotiated by initialize.
type protocolVersion struct{ v atomic.Value }

func (p *protocolVersion) get() string {
	s, _ := p.v.Load().(string)
	return s
}

func (p *protocolVersion) setFromResult(result json.RawMessage) {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(result, &r) == nil && r.ProtocolVersion != "" {
		p.v.Store(r.ProtocolVersion)
	}
}

// serverClosedIdle is the text of net/http's unexported error for a request given a pooled
// connection the server had closed while no request was pending on it: the server closed it
// before it could read this request.
const serverClosedIdle = "http: server closed idle connection"

// notDelivered reports whether err shows the request never reached the server (connection
// refused, failed dial, or a pooled connection the server had closed), so that sending it
// again cannot run it twice.
func notDelivered(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") ||
		strings.HasSuffix(err.Error(), serverClosedIdle)
}
