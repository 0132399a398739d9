// Package proxy bridges a local MCP connection (the stdio of a desktop host) to a remote MCP
// server over Streamable HTTP or the legacy HTTP+SSE transport (MCP specification, "Transports").
//
// The bridge forwards JSON-RPC messages as they are, in both directions, so every method and
// notification passes through, including ones this package has never heard of. It only looks
// at three messages: the host's initialize request and initialized notification, which it
// replays on a new remote session after the server lost the old one, and the initialize
// result, whose protocol version it sends in the MCP-Protocol-Version header.
//
// A request is re-sent only when the remote server certainly did not process it: the server
// answered 404 for the session (it restarted, or expired the session), or the connection was
// refused. A request whose fate is unknown (the connection dropped after it was sent) is
// answered with a JSON-RPC error instead, so nothing reaches the server twice.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config describes the remote side of a bridge.
type Config struct {
	// URL is the remote MCP server's endpoint.
	URL string
	// HTTPClient sends the remote requests; typically client.Client.HTTPClient(), which adds
	// the bearer token and authorizes on 401. Default http.DefaultClient.
	HTTPClient *http.Client
	// Header is added to every request to the MCP server (not to OAuth requests). Values are
	// never logged.
	Header http.Header
	// Transport chooses Streamable HTTP, legacy SSE or both in order. Default HTTPFirst.
	Transport Strategy
	// RetryFor bounds how long a message is retried while the server refuses connections
	// (a restart). Default 30 seconds.
	RetryFor time.Duration
	// Logger receives progress and errors. Nil is silent.
	Logger *slog.Logger
}

// Run forwards messages between local and the remote server until local reaches EOF (the host
// closed stdin), ctx ends, or the remote server cannot be reached. It closes the remote
// session (DELETE for Streamable HTTP) before returning; a clean EOF returns nil.
func Run(ctx context.Context, local mcp.Connection, cfg Config) error {
	b, err := newBridge(local, cfg)
	if err != nil {
		return err
	}
	defer b.close()
	return b.run(ctx)
}

// bridge is one running proxy.
type bridge struct {
	cfg      Config
	local    mcp.Connection
	log      *slog.Logger
	dialer   *dialer
	localMu  sync.Mutex // serializes writes to local
	mu       sync.Mutex // guards the fields below
	remote   mcp.Connection
	gen      int                // generation of remote; bumped on every new session
	inflight map[jsonrpc.ID]int // host requests awaiting a response → their generation
	replays  map[jsonrpc.ID]chan error
	init     *jsonrpc.Request // the host's initialize request
	inited   *jsonrpc.Request // the host's initialized notification
	version  *protocolVersion // negotiated protocol version, for the header
	// stopListening ends the standalone stream of the current session (listen.go), if any.
	stopListening context.CancelFunc
}

func newBridge(local mcp.Connection, cfg Config) (*bridge, error) {
	if cfg.URL == "" {
		return nil, errors.New("proxy: Config.URL is empty")
	}
	if cfg.Transport == "" {
		cfg.Transport = HTTPFirst
	}
	if _, err := cfg.Transport.order(); err != nil {
		return nil, err
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &bridge{
		cfg:      cfg,
		local:    local,
		log:      log,
		inflight: map[jsonrpc.ID]int{},
		replays:  map[jsonrpc.ID]chan error{},
		version:  &protocolVersion{},
	}
	b.dialer = newDialer(cfg, b.version, log)
	return b, nil
}

// run is the loop that reads the host's messages and sends them on.
func (b *bridge) run(ctx context.Context) error {
	decodeErrors := 0
	for {
		msg, err := b.local.Read(ctx)
		if errors.Is(err, io.EOF) {
			b.log.Debug("mcpauth proxy: the host closed stdin; shutting down")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A line that is not JSON-RPC: the host cannot be answered without an ID.
			b.log.Warn("mcpauth proxy: ignoring an unreadable message from the host", "err", err)
			if decodeErrors++; decodeErrors > 100 {
				return fmt.Errorf("proxy: reading from the host: %w", err)
			}
			continue
		}
		decodeErrors = 0
		if err := b.forward(ctx, msg); err != nil {
			return err
		}
	}
}

// forward sends one message of the host to the remote server. It returns an error only when
// the proxy cannot go on.
func (b *bridge) forward(ctx context.Context, msg jsonrpc.Message) error {
	req, isReq := msg.(*jsonrpc.Request)
	if isReq {
		switch req.Method {
		case "initialize":
			b.mu.Lock()
			b.init = req
			b.mu.Unlock()
		case "notifications/initialized":
			b.mu.Lock()
			b.inited = req
			b.mu.Unlock()
		}
		if req.IsCall() {
			b.mu.Lock()
			b.inflight[req.ID] = -1 // not sent yet
			b.mu.Unlock()
		}
	}
	err := b.send(ctx, msg)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if isReq && req.Method == "initialize" && !b.hasRemote() {
		// Without a session there is nothing to bridge: tell the host, then stop.
		b.answerError(req.ID, err)
		return fmt.Errorf("proxy: connecting to %s: %w", b.cfg.URL, err)
	}
	b.log.Warn("mcpauth proxy: message not delivered", "err", err)
	if isReq && req.IsCall() {
		b.answerError(req.ID, err)
	}
	return nil
}

// send writes msg on the current remote session, opening one (and replaying initialize) when
// there is none, and re-sends it only when the server certainly did not process it.
func (b *bridge) send(ctx context.Context, msg jsonrpc.Message) error {
	deadline := time.Now().Add(b.cfg.RetryFor)
	delay := 100 * time.Millisecond
	for {
		conn, gen, err := b.session(ctx, msg)
		if err == nil {
			err = conn.Write(ctx, msg)
			if err == nil {
				b.markSent(msg, gen)
				if isInitialized(msg) {
					b.startListening(conn, gen)
				}
				return nil
			}
		}
		switch {
		case errors.Is(err, mcp.ErrSessionMissing):
			// The server does not know the session (restart, expiry): it did not process msg.
			b.log.Info("mcpauth proxy: the remote session is gone; starting a new one")
			b.drop(gen)
			continue
		case notDelivered(err) && time.Now().Before(deadline):
			b.log.Info("mcpauth proxy: the server is unreachable; retrying", "in", delay)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, 2*time.Second)
			continue
		}
		return err
	}
}

// markSent records the session generation a host request was sent on, so that losing that
// session answers it. A request whose response came already, or whose session was lost while
// it was being sent, is settled here.
func (b *bridge) markSent(msg jsonrpc.Message, gen int) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return
	}
	b.mu.Lock()
	_, waiting := b.inflight[req.ID]
	lost := waiting && (gen != b.gen || b.remote == nil)
	if waiting && !lost {
		b.inflight[req.ID] = gen
	}
	b.mu.Unlock()
	if lost {
		b.answerError(req.ID, errLost)
	}
}

var errLost = errors.New("the connection to the remote server was lost before the response arrived; the request was not re-sent")

func (b *bridge) hasRemote() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.remote != nil
}

// session returns the current remote session, opening a new one when there is none. A new
// session for anything but the host's own initialize first replays initialize and
// initialized, so the server sees an initialized session.
func (b *bridge) session(ctx context.Context, msg jsonrpc.Message) (mcp.Connection, int, error) {
	b.mu.Lock()
	if b.remote != nil {
		conn, gen := b.remote, b.gen
		b.mu.Unlock()
		return conn, gen, nil
	}
	init, inited := b.init, b.inited
	b.mu.Unlock()

	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "initialize" {
		init = nil // the host initializes itself
	}
	conn, err := b.dialer.dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	b.mu.Lock()
	b.gen++
	gen := b.gen
	b.remote = conn
	b.mu.Unlock()
	go b.readRemote(conn, gen)
	if init != nil {
		if err := b.replay(ctx, conn, init, inited, gen); err != nil {
			b.drop(gen)
			return nil, 0, err
		}
	}
	return conn, gen, nil
}

// replay initializes a new remote session with the host's initialize parameters, under a
// request ID of the proxy's own whose response the host never sees.
func (b *bridge) replay(ctx context.Context, conn mcp.Connection, init, inited *jsonrpc.Request, gen int) error {
	id, err := jsonrpc.MakeID(fmt.Sprintf("mcpauth-proxy-reinitialize-%d", gen))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	b.mu.Lock()
	b.replays[id] = done
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.replays, id)
		b.mu.Unlock()
	}()
	if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: init.Method, Params: init.Params}); err != nil {
		return err
	}
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.cfg.RetryFor):
		return errors.New("the server did not answer initialize")
	}
	if inited == nil {
		return nil
	}
	if err := conn.Write(ctx, inited); err != nil {
		return err
	}
	b.startListening(conn, gen)
	return nil
}

// readRemote copies the messages of one remote session to the host until it fails.
func (b *bridge) readRemote(conn mcp.Connection, gen int) {
	ctx := context.Background()
	for {
		msg, err := conn.Read(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				b.log.Info("mcpauth proxy: remote session ended", "err", err)
			}
			b.drop(gen)
			return
		}
		if resp, ok := msg.(*jsonrpc.Response); ok && b.consume(resp) {
			continue
		}
		b.writeLocal(msg)
	}
}

// consume handles a response before it goes to the host: the result of a replayed initialize
// is swallowed; a host request's response settles it and, for initialize, gives the version.
func (b *bridge) consume(resp *jsonrpc.Response) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done, ok := b.replays[resp.ID]; ok {
		if resp.Error != nil {
			done <- fmt.Errorf("initialize: %w", resp.Error)
		} else {
			b.version.setFromResult(resp.Result)
			done <- nil
		}
		return true
	}
	if b.init != nil && resp.ID == b.init.ID && resp.Error == nil {
		b.version.setFromResult(resp.Result)
	}
	delete(b.inflight, resp.ID)
	return false
}

// drop forgets remote session gen (if current) and answers the host's requests that were
// sent on it: their responses will never come, and re-sending them could run them twice.
func (b *bridge) drop(gen int) {
	b.mu.Lock()
	if gen != b.gen || b.remote == nil {
		b.mu.Unlock()
		return
	}
	conn := b.remote
	b.remote = nil
	b.endListening()
	var lost []jsonrpc.ID
	for id, g := range b.inflight {
		if g == gen {
			lost = append(lost, id)
			delete(b.inflight, id)
		}
	}
	b.mu.Unlock()
	go conn.Close()
	b.dialer.client.CloseIdleConnections()
	for _, id := range lost {
		b.answerError(id, errLost)
	}
}

// endListening stops the standalone stream of the current session; b.mu is held.
func (b *bridge) endListening() {
	if b.stopListening != nil {
		b.stopListening()
		b.stopListening = nil
	}
}

// answerError answers host request id with a JSON-RPC internal error.
func (b *bridge) answerError(id jsonrpc.ID, err error) {
	b.mu.Lock()
	delete(b.inflight, id)
	b.mu.Unlock()
	b.writeLocal(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: -32603, Message: "mcpauth proxy: " + err.Error()}})
}

func (b *bridge) writeLocal(msg jsonrpc.Message) {
	b.localMu.Lock()
	defer b.localMu.Unlock()
	if err := b.local.Write(context.Background(), msg); err != nil {
		b.log.Warn("mcpauth proxy: writing to the host", "err", err)
	}
}

// close ends the remote session and the local connection.
func (b *bridge) close() {
	b.mu.Lock()
	conn := b.remote
	b.remote = nil
	b.gen++
	b.endListening()
	b.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	b.local.Close()
}
