// Per-tool scopes: the JSON-RPC request body is read before the MCP server sees it, and a tools/call
// without the tool's scopes is refused with 403 insufficient_scope (RFC 6750 §3.1; MCP authorization,
// "Scope Challenge Handling").

package protect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolScopes maps a tool name to every scope a tools/call of that tool needs.
type ToolScopes map[string][]string

// ScopeHierarchy maps a broader scope to the narrower scopes it implies
// (e.g. "notes:write" → "notes:read"); implications are transitive. The MCP
// authorization spec requires servers to honour such hierarchies when
// deciding whether a token suffices.
type ScopeHierarchy map[string][]string

// expand returns granted plus every scope it implies.
func (h ScopeHierarchy) expand(granted []string) map[string]bool {
	have := map[string]bool{}
	stack := slices.Clone(granted)
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !have[s] {
			have[s] = true
			stack = append(stack, h[s]...)
		}
	}
	return have
}

// missingScopes returns the scopes of need that ti neither holds nor
// implies through the configured hierarchy.
func (p *Protector) missingScopes(ti *TokenInfo, need []string) []string {
	if !slices.ContainsFunc(need, func(s string) bool { return !slices.Contains(ti.Scopes, s) }) {
		return nil // every scope granted literally: no need to expand the hierarchy
	}
	have := p.cfg.ScopeHierarchy.expand(ti.Scopes)
	var missing []string
	for _, s := range need {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// ToolCall is one tools/call read from a request: the tool's name and its
// raw JSON arguments (nil when absent).
type ToolCall struct {
	Name      string         `json:"name"`
	Arguments jsontext.Value `json:"arguments"`
}

// ErrBadJSONRPC reports a request body that is not JSON-RPC the middleware
// can read with certainty (not JSON, invalid UTF-8, duplicate or non-string
// members); it is refused so that no other parser sees a different request.
var ErrBadJSONRPC = errors.New("protect: request body is not a valid JSON-RPC message")

// peek returns the tool calls of body, a JSON-RPC message or batch, reading
// it as json.Unmarshal would into {method string; params} and then params
// into ToolCall: member names matched case-sensitively after unescaping,
// other members skipped, null as the zero value, and the whole body refused
// if it is not one valid JSON value with unique member names and valid
// UTF-8 — exactly as strict as the MCP server's own decoder, so the tool
// checked here is the tool that runs. It walks the tokens once, without
// reflection: the params of a message whose method came first (as clients
// write them) are read in the same pass, others after it. Each call's
// Arguments alias body; the calls are valid until pk is released.
func (pk *peeker) peek(body []byte) ([]ToolCall, error) {
	pk.reset(body)
	if err := pk.message(body, true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadJSONRPC, err)
	}
	if _, err := pk.dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the message", ErrBadJSONRPC)
	}
	for _, d := range pk.deferred {
		pk.reset(d.params)
		c, err := pk.toolCall(d.params)
		if err != nil {
			return nil, fmt.Errorf("%w: tools/call params: %v", ErrBadJSONRPC, err)
		}
		pk.calls[d.call] = c
	}
	return pk.calls, nil
}

// peeker holds what a peek reuses between requests.
type peeker struct {
	dec      jsontext.Decoder
	in       bytes.Buffer // what dec reads: it parses a bytes.Buffer in place
	name     []byte       // an unquoted member name or string
	calls    []ToolCall   // the tools/call of the body, in order
	deferred []deferredParams
}

// deferredParams are the params of calls[call], which came before the
// message's method: they are read once the method is known.
type deferredParams struct {
	call   int
	params []byte
}

var peekers = sync.Pool{New: func() any { return new(peeker) }}

// reset points the decoder at in.
func (pk *peeker) reset(in []byte) {
	pk.in = *bytes.NewBuffer(in)
	pk.dec.Reset(&pk.in)
}

// release forgets the body and returns pk to the pool, without a buffer
// that a large body made large.
func (pk *peeker) release() {
	pk.reset(nil)
	if cap(pk.name) > 1024 {
		pk.name = nil
	}
	clear(pk.calls)
	pk.calls = pk.calls[:0]
	clear(pk.deferred)
	pk.deferred = pk.deferred[:0]
	if cap(pk.calls) > 64 || cap(pk.deferred) > 64 {
		pk.calls, pk.deferred = nil, nil
	}
	peekers.Put(pk)
}

var errNotObject = errors.New("a message is not a JSON object")

// message reads one JSON-RPC message (or, at the top, a batch) and records
// its tools/call.
func (pk *peeker) message(body []byte, top bool) error {
	switch pk.dec.PeekKind() {
	case 'n':
		_, err := pk.dec.ReadToken()
		return err
	case '[':
		if !top {
			return errNotObject
		}
		if _, err := pk.dec.ReadToken(); err != nil {
			return err
		}
		for pk.dec.PeekKind() != ']' {
			if err := pk.message(body, false); err != nil {
				return err
			}
		}
		_, err := pk.dec.ReadToken()
		return err
	case '{':
	default:
		if _, err := pk.dec.ReadValue(); err != nil { // report a syntax error as such
			return err
		}
		return errNotObject
	}
	if _, err := pk.dec.ReadToken(); err != nil {
		return err
	}
	var call ToolCall
	var params []byte // the raw params, when they came before the method
	sawMethod, isCall, hasParams, read := false, false, false, false
	for pk.dec.PeekKind() != '}' {
		member, err := pk.memberName()
		if err != nil {
			return err
		}
		switch string(member) {
		case "method":
			method, err := pk.stringValue()
			if err != nil {
				return err
			}
			sawMethod, isCall = true, string(method) == "tools/call"
		case "params":
			hasParams = true
			switch {
			case isCall:
				if call, err = pk.toolCall(body); err != nil {
					return fmt.Errorf("tools/call params: %v", err)
				}
				read = true
			case sawMethod:
				err = pk.dec.SkipValue() // another method's params
			default:
				params, err = pk.rawValue(body)
			}
			if err != nil {
				return err
			}
		default:
			if err := pk.dec.SkipValue(); err != nil {
				return err
			}
		}
	}
	if _, err := pk.dec.ReadToken(); err != nil {
		return err
	}
	switch {
	case !isCall:
	case !hasParams:
		return errors.New("tools/call without params")
	case read:
		pk.calls = append(pk.calls, call)
	default:
		pk.deferred = append(pk.deferred, deferredParams{call: len(pk.calls), params: params})
		pk.calls = append(pk.calls, ToolCall{})
	}
	return nil
}

// toolCall reads the params of a tools/call, an object or null, from the
// decoder, whose input is in.
func (pk *peeker) toolCall(in []byte) (ToolCall, error) {
	var c ToolCall
	switch pk.dec.PeekKind() {
	case 'n':
		_, err := pk.dec.ReadToken()
		return c, err
	case '{':
	default:
		if _, err := pk.dec.ReadValue(); err != nil { // report a syntax error as such
			return c, err
		}
		return c, errors.New("params is not a JSON object")
	}
	if _, err := pk.dec.ReadToken(); err != nil {
		return c, err
	}
	for pk.dec.PeekKind() != '}' {
		member, err := pk.memberName()
		if err != nil {
			return c, err
		}
		switch string(member) {
		case "name":
			s, err := pk.stringValue()
			if err != nil {
				return c, err
			}
			c.Name = string(s)
		case "arguments":
			if c.Arguments, err = pk.rawValue(in); err != nil {
				return c, err
			}
		default:
			if err := pk.dec.SkipValue(); err != nil {
				return c, err
			}
		}
	}
	_, err := pk.dec.ReadToken()
	return c, err
}

// memberName reads an object member's name, unescaped; it is valid until
// the next read.
func (pk *peeker) memberName() ([]byte, error) {
	if pk.dec.PeekKind() != '"' {
		_, err := pk.dec.ReadToken() // the decoder reports what is wrong
		if err == nil {
			err = errors.New("object member name is not a string")
		}
		return nil, err
	}
	return pk.stringValue()
}

// stringValue reads a string or null (empty) value, unescaped; it is valid
// until the next read.
func (pk *peeker) stringValue() ([]byte, error) {
	v, err := pk.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	switch v.Kind() {
	case 'n':
		return nil, nil
	case '"':
	default:
		return nil, fmt.Errorf("JSON %s where a string is expected", v.Kind())
	}
	pk.name, err = jsontext.AppendUnquote(pk.name[:0], v)
	return pk.name, err
}

// rawValue reads a value and returns it as a slice of in, the input the
// decoder reads.
func (pk *peeker) rawValue(in []byte) ([]byte, error) {
	v, err := pk.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	end := int(pk.dec.InputOffset())
	return in[end-len(v) : end : end], nil
}

// requiredScopes returns the union, in a stable order, of the scopes the
// calls need: the tool's ToolScopes plus, when configured, the CallScopes of
// its arguments. Unknown tools need nothing here: the server answers them
// with its own "unknown tool" error.
func (p *Protector) requiredScopes(calls []ToolCall) []string {
	if len(calls) == 1 && p.cfg.CallScopes == nil {
		return p.cfg.ToolScopes[calls[0].Name] // the common case; callers do not modify it
	}
	var need []string
	for _, c := range calls {
		scopes := p.cfg.ToolScopes[c.Name]
		if p.cfg.CallScopes != nil {
			scopes = append(slices.Clone(scopes), p.cfg.CallScopes(c)...)
		}
		for _, s := range scopes {
			if !slices.Contains(need, s) {
				need = append(need, s)
			}
		}
	}
	return need
}

// ServerMiddleware returns go-sdk receiving middleware that applies the
// per-tool scopes inside the MCP server too: tools/call is refused again if
// the caller lacks the tool's scopes (defence in depth behind the HTTP
// check), and, when hideForbidden is set, tools/list omits the tools the
// caller may not call. Add it with server.AddReceivingMiddleware.
func (p *Protector) ServerMiddleware(hideForbidden bool) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ti := TokenInfoFromSDK(req.GetExtra().TokenInfo)
			if ti == nil {
				return next(ctx, method, req)
			}
			switch r := req.(type) {
			case *mcp.CallToolRequest:
				need := p.requiredScopes([]ToolCall{{Name: r.Params.Name, Arguments: jsontext.Value(r.Params.Arguments)}})
				if missing := p.missingScopes(ti, need); len(missing) > 0 {
					return nil, fmt.Errorf("tool %q needs scope %s", r.Params.Name, strings.Join(missing, " "))
				}
			case *mcp.ListToolsRequest:
				res, err := next(ctx, method, req)
				if lt, ok := res.(*mcp.ListToolsResult); ok && err == nil && hideForbidden {
					lt.Tools = slices.DeleteFunc(slices.Clone(lt.Tools), func(t *mcp.Tool) bool {
						return len(p.missingScopes(ti, p.cfg.ToolScopes[t.Name])) > 0
					})
				}
				return res, err
			}
			return next(ctx, method, req)
		}
	}
}
