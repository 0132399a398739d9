// The raw load generator: keep-alive HTTP/1.1 connections (RFC 9112), one per worker, each
// request serialised once and sent as bytes, each response framed by readResponse and checked
// with a byte search, so that the generator spends far less CPU per request than the servers it
// measures (net/http's client spent about as much as the server on a plain handler).
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// maxBody is the largest response body the raw generator reads.
const maxBody = 1 << 20

// RawClient holds one keep-alive connection per worker to one origin.
type RawClient struct {
	addr, host string
	timeout    time.Duration
	mu         sync.Mutex // guards conns (each element is used by its worker alone)
	conns      []*rawConn
}

type rawConn struct {
	net.Conn
	r      *bufio.Reader
	body   []byte // the last response's body
	req    []byte // a request built per call (RawRefresh)
	reused bool   // a response was read on it before
}

// NewRawClient returns a client for the origin of rawURL (http only) with workers connections,
// dialled on first use. Each request must be answered within timeout.
func NewRawClient(rawURL string, workers int, timeout time.Duration) (*RawClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("raw client: %q is not an http:// URL", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &RawClient{addr: addr, host: u.Host, timeout: timeout, conns: make([]*rawConn, workers)}, nil
}

// Close closes every connection.
func (c *RawClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, rc := range c.conns {
		if rc != nil {
			rc.Close()
			c.conns[i] = nil
		}
	}
}

// NewRequest serialises a request to this client's origin: method, path (with query), body
// (Content-Length set from it) and further header fields as name, value pairs.
func (c *RawClient) NewRequest(method, path string, body []byte, header ...string) []byte {
	b := fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, c.host)
	for i := 0; i+1 < len(header); i += 2 {
		b = fmt.Appendf(b, "%s: %s\r\n", header[i], header[i+1])
	}
	b = fmt.Appendf(b, "Content-Length: %d\r\n\r\n", len(body))
	return append(b, body...)
}

// conn returns worker w's connection, dialling it if there is none.
func (c *RawClient) conn(ctx context.Context, w int) (*rawConn, error) {
	c.mu.Lock()
	rc := c.conns[w]
	c.mu.Unlock()
	if rc != nil {
		return rc, nil
	}
	nc, err := (&net.Dialer{Timeout: c.timeout}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	rc = &rawConn{Conn: nc, r: bufio.NewReaderSize(nc, 16<<10), body: make([]byte, 0, 4<<10)}
	c.mu.Lock()
	c.conns[w] = rc
	c.mu.Unlock()
	return rc, nil
}

// drop closes worker w's connection; the next Do dials a new one.
func (c *RawClient) drop(w int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc := c.conns[w]; rc != nil {
		rc.Close()
		c.conns[w] = nil
	}
}

// Do sends req on worker w's connection and reads the answer. Its body is valid until the
// worker's next Do. A connection the server closed while idle is dialled again and the request
// sent once more; any other failure closes the connection.
func (c *RawClient) Do(ctx context.Context, w int, req []byte) (status int, body []byte, err error) {
	for attempt := 0; ; attempt++ {
		rc, err := c.conn(ctx, w)
		if err != nil {
			return 0, nil, err
		}
		if err := rc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			c.drop(w)
			return 0, nil, err
		}
		var resp response
		_, err = rc.Write(req)
		unanswered := err != nil // nothing of an answer read
		if err == nil {
			resp, err = readResponse(rc.r, rc.body, maxBody)
			unanswered = errors.Is(err, errNoResponse)
		}
		if err != nil {
			c.drop(w)
			var ne net.Error
			timeout := errors.As(err, &ne) && ne.Timeout()
			if unanswered && !timeout && rc.reused && attempt == 0 && ctx.Err() == nil {
				continue // the server had closed the idle connection: a new one, once
			}
			return 0, nil, err
		}
		rc.body, rc.reused = resp.Body, true
		if resp.Close {
			c.drop(w)
		}
		return resp.Status, resp.Body, nil
	}
}

// RawOp is an Op that sends req and checks the answer: status want and a non-empty JSON string
// member (e.g. "access_token"). Any other answer is a *StatusError with the OAuth error code.
func RawOp(c *RawClient, op string, req []byte, want int, member string) Op {
	key := memberKey(member)
	return func(ctx context.Context, w int) error {
		status, body, err := c.Do(ctx, w, req)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return check(op, status, body, want, key)
	}
}

// check returns nil when the answer has status want and a non-empty string member key.
func check(op string, status int, body []byte, want int, key []byte) error {
	if status != want {
		return &StatusError{Op: op, Status: status, Code: string(stringMember(body, memberKey("error")))}
	}
	if len(stringMember(body, key)) == 0 {
		return fmt.Errorf("%s: no %s in the answer", op, key)
	}
	return nil
}

// memberKey is the text that opens a JSON object member: "name".
func memberKey(name string) []byte { return strconv.AppendQuote(nil, name) }

// stringMember returns the raw text (escapes kept) of the JSON string value of the member that
// key (as memberKey makes it) opens, or nil. It searches bytes instead of decoding: a key is
// recognised where its opening quote is not escaped and a colon follows it; good enough for
// the compact token and registration answers it reads, not a JSON validator.
func stringMember(body, key []byte) []byte {
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			return nil
		}
		i += off
		off = i + len(key)
		if i > 0 && body[i-1] == '\\' {
			continue
		}
		v := bytes.TrimLeft(body[off:], " \t\r\n")
		if len(v) == 0 || v[0] != ':' {
			continue
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
		if len(v) == 0 || v[0] != '"' {
			return nil
		}
		for j := 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				j++
			case '"':
				return v[1:j]
			}
		}
		return nil
	}
}

// TokenRequest serialises a token request as Token sends it (client authentication, resource).
func (as *AS) TokenRequest(c *RawClient, cl *Client, form url.Values) ([]byte, error) {
	path, err := c.path(as.Metadata.TokenEndpoint)
	if err != nil {
		return nil, err
	}
	body, header := as.tokenForm(cl, form)
	return c.NewRequest("POST", path, []byte(body), append(header,
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")...), nil
}

// RegisterRequest serialises the registration request Register sends.
func (as *AS) RegisterRequest(c *RawClient, name string) ([]byte, error) {
	path, err := c.path(as.Metadata.RegistrationEndpoint)
	if err != nil {
		return nil, err
	}
	return c.NewRequest("POST", path, registrationBody(name),
		"Content-Type", "application/json", "Accept", "application/json"), nil
}

// path returns the path and query of endpoint, which must be on c's origin.
func (c *RawClient) path(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if u.Host != c.host {
		return "", fmt.Errorf("raw client for %s: endpoint on another origin", c.host)
	}
	return u.RequestURI(), nil
}

// RawRefresh is an Op that rotates worker w's refresh token chains[w] on every call: it sends
// the refresh request built from the previous answer (RFC 6749 §6) and keeps the new refresh
// token, checking that the answer has an access token and a new refresh token.
func (as *AS) RawRefresh(c *RawClient, cl *Client, chains []string) (Op, error) {
	for _, t := range chains {
		if !unreserved([]byte(t)) {
			return nil, fmt.Errorf("raw refresh: a refresh token needs escaping")
		}
	}
	// The form without the token, which goes last: "...&refresh_token=" + token.
	prefix, header := as.tokenForm(cl, url.Values{"grant_type": {"refresh_token"}})
	prefix += "&refresh_token="
	path, err := c.path(as.Metadata.TokenEndpoint)
	if err != nil {
		return nil, err
	}
	head := c.NewRequest("POST", path, nil, append(header,
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json")...)
	head = bytes.TrimSuffix(head, []byte("Content-Length: 0\r\n\r\n"))
	accessKey, refreshKey := memberKey("access_token"), memberKey("refresh_token")
	return func(ctx context.Context, w int) error {
		rc, err := c.conn(ctx, w)
		if err != nil {
			return err
		}
		tok := chains[w]
		req := append(rc.req[:0], head...)
		req = fmt.Appendf(req, "Content-Length: %d\r\n\r\n%s", len(prefix)+len(tok), prefix)
		req = append(req, tok...) // base64url or other unreserved characters: checked below
		rc.req = req
		status, body, err := c.Do(ctx, w, req)
		if err != nil {
			return fmt.Errorf("token refresh_token: %w", err)
		}
		if err := check("token refresh_token", status, body, 200, accessKey); err != nil {
			return err
		}
		next := stringMember(body, refreshKey)
		if len(next) == 0 || !unreserved(next) {
			return fmt.Errorf("token refresh_token: no new refresh token (or one that needs escaping)")
		}
		chains[w] = string(next)
		return nil
	}, nil
}

// unreserved reports whether b holds only URI unreserved characters (RFC 3986 §2.3), which a
// form carries unescaped and JSON without escapes.
func unreserved(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// registrationBody is the RFC 7591 §2 metadata of the public native clients Register registers.
func registrationBody(name string) []byte {
	body, _ := json.Marshal(map[string]any{
		"client_name": name, "redirect_uris": []string{RedirectURI}, "application_type": "native",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	return body
}
