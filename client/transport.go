// Bearer tokens on MCP requests (RFC 6750 §2.1) and the answer to 401 and 403
// insufficient_scope (MCP authorization specification, "Access Token Usage", "Scope Challenge
// Handling").

package client

import (
	"fmt"
	"io"
	"net/http"
)

// maxAuthorizations bounds the authorizations (and refreshes) made for one request.
const maxAuthorizations = 3

// transport adds the bearer token to requests for the MCP server's origin and recovers
// from 401 and 403 insufficient_scope by refreshing or authorizing, then retrying.
type transport struct {
	c    *Client
	base http.RoundTripper // nil: http.DefaultTransport
}

// CloseIdleConnections closes the idle connections of the base transport (http.Client does
// it through this method), e.g. when a proxy starts a new session after a server restart.
// Added by cli for mcpauth proxy.
func (t *transport) CloseIdleConnections() {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if !t.c.server.sameOrigin(req.URL) {
		return base.RoundTrip(req) // never send the token to another origin
	}
	ctx := req.Context()
	op := &operation{background: req.Method != http.MethodPost}
	for attempt := 0; ; attempt++ {
		tok, err := t.c.token(ctx)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		r, err := rewind(req, attempt)
		if err != nil {
			return nil, err
		}
		used := ""
		if tok != nil {
			used = tok.AccessToken
			r.Header.Set("Authorization", "Bearer "+used)
		}
		resp, err := base.RoundTrip(r)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized && !isInsufficientScope(resp) {
			return resp, nil // a 403 for another reason is the server's answer, not a token problem
		}
		if attempt == maxAuthorizations || (req.Body != nil && req.GetBody == nil) {
			return t.final(resp, op)
		}
		err = t.c.handleRefusal(ctx, used, resp, op)
		drain(resp)
		if err != nil {
			closeBody(req)
			t.c.log.Warn("mcpauth: request refused", "method", req.Method, "status", resp.StatusCode, "err", err)
			return nil, err
		}
	}
}

func isInsufficientScope(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden && parseRefusal(resp).errCode == "insufficient_scope"
}

// final turns the last refusal of an operation into a typed error.
func (t *transport) final(resp *http.Response, op *operation) (*http.Response, error) {
	r := parseRefusal(resp)
	drain(resp)
	if r.status == http.StatusForbidden && r.errCode == "insufficient_scope" {
		return nil, &InsufficientScopeError{Required: r.scopes, Attempts: op.authorizations}
	}
	return nil, r.required(fmt.Errorf("still refused after %d attempts", maxAuthorizations))
}

// rewind returns the request to send for attempt: req itself the first time, then a copy
// with a fresh body.
func rewind(req *http.Request, attempt int) (*http.Request, error) {
	r := req.Clone(req.Context())
	if attempt == 0 || req.Body == nil {
		if attempt == 0 {
			r.Body = req.Body
		}
		return r, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r.Body = body
	return r, nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain discards a little of a response body so the connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
