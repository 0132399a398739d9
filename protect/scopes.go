// Per-tool scopes: the JSON-RPC request body is read before the MCP server sees it, and a tools/call
// without the tool's scopes is refused with 403 insufficient_scope (RFC 6750 §3.1; MCP authorization,
// "Scope Challenge Handling").

package protect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
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

// rpcMessage is the part of a JSON-RPC 2.0 message the middleware reads.
type rpcMessage struct {
	Method string         `json:"method"`
	Params jsontext.Value `json:"params"`
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

// peekToolCalls returns the tool calls of body, a JSON-RPC
// message or batch. Names are matched case-sensitively and duplicate object
// members are refused, exactly as strict as the MCP server's own decoder, so
// the tool checked here is the tool that runs.
func peekToolCalls(body []byte) ([]ToolCall, error) {
	body = bytes.TrimLeft(body, " \t\r\n")
	var msgs []rpcMessage
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSONRPC, err)
		}
	} else {
		var m rpcMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadJSONRPC, err)
		}
		msgs = []rpcMessage{m}
	}
	var calls []ToolCall
	for _, m := range msgs {
		if m.Method != "tools/call" {
			continue
		}
		var c ToolCall
		if err := json.Unmarshal(m.Params, &c); err != nil {
			return nil, fmt.Errorf("%w: tools/call params: %v", ErrBadJSONRPC, err)
		}
		calls = append(calls, c)
	}
	return calls, nil
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
