// Package httptrace prints the HTTP exchanges of a client, with every token,
// secret, code and password redacted, for the mcpauth demo.
package httptrace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// maxShown bounds how much of one body is printed.
const maxShown = 1200

// Redacted replaces every secret value.
const Redacted = "[redacted]"

// secretNames are parameter, member and header names whose values are secret.
var secretNames = map[string]bool{
	"access_token": true, "refresh_token": true, "id_token": true, "code": true, "code_verifier": true,
	"client_secret": true, "registration_access_token": true, "password": true, "assertion": true,
	"client_assertion": true, "token": true, "subject_token": true, "device_code": true, "csrf": true,
	"csrf_token": true,
}

// jwtLike matches compact JWS/JWE strings anywhere in text; compiled on first use.
var jwtLike = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
})

// Transport is an http.RoundTripper that prints each exchange to Out before
// returning it. Labeler, when set, names the step a request belongs to; a
// heading is printed whenever the step changes.
type Transport struct {
	Base    http.RoundTripper // default http.DefaultTransport
	Out     io.Writer
	Labeler func(*http.Request) string

	mu   sync.Mutex
	step string
	n    int
}

// RoundTrip prints the request, sends it, and prints the response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	var b strings.Builder
	t.mu.Lock()
	if t.Labeler != nil {
		if step := t.Labeler(req); step != "" && step != t.step {
			t.step = step
			fmt.Fprintf(&b, "\n== %s\n", step)
		}
	}
	t.n++
	n := t.n
	t.mu.Unlock()
	fmt.Fprintf(&b, "[%d] → %s %s\n", n, req.Method, RedactURL(req.URL.String()))
	for _, h := range []string{"Authorization", "Content-Type", "Mcp-Session-Id", "MCP-Protocol-Version"} {
		if v := req.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "      %s: %s\n", h, RedactHeader(h, v))
		}
	}
	if len(reqBody) > 0 {
		fmt.Fprintf(&b, "      %s\n", indent(RedactBody(req.Header.Get("Content-Type"), reqBody)))
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(&b, "[%d] ← error: %v\n", n, err)
		t.write(b.String())
		return nil, err
	}
	fmt.Fprintf(&b, "[%d] ← %s\n", n, resp.Status)
	for _, h := range []string{"WWW-Authenticate", "Location", "Content-Type", "Mcp-Session-Id", "Retry-After", "RateLimit"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "      %s: %s\n", h, RedactHeader(h, v))
		}
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "text/event-stream" {
		// A stream may stay open: show its events as they are read.
		t.write(b.String())
		resp.Body = &streamBody{ReadCloser: resp.Body, t: t, n: n}
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	if rerr == nil && len(body) > 0 {
		fmt.Fprintf(&b, "      %s\n", indent(RedactBody(resp.Header.Get("Content-Type"), body)))
	}
	t.write(b.String())
	return resp, nil
}

func (t *Transport) write(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.Out, s)
}

// streamBody prints each complete SSE "data:" line as the client reads it.
type streamBody struct {
	io.ReadCloser
	t       *Transport
	n       int
	pending []byte
}

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.pending = append(s.pending, p[:n]...)
	for {
		i := bytes.IndexByte(s.pending, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(s.pending[:i]))
		s.pending = s.pending[i+1:]
		if data, ok := strings.CutPrefix(line, "data:"); ok && strings.TrimSpace(data) != "" {
			s.t.write(fmt.Sprintf("[%d] ← event: %s\n", s.n, indent(RedactBody("application/json", []byte(data)))))
		}
	}
	if len(s.pending) > maxShown {
		s.pending = s.pending[:0]
	}
	return n, err
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n      ") }

// RedactHeader hides credentials in a header value.
func RedactHeader(name, value string) string {
	switch strings.ToLower(name) {
	case "authorization":
		scheme, _, _ := strings.Cut(value, " ")
		return scheme + " " + Redacted
	case "location":
		return RedactURL(value)
	case "cookie", "set-cookie":
		return Redacted
	}
	return jwtLike().ReplaceAllString(value, Redacted)
}

// RedactURL hides secret query parameters (code, tokens, ...) of a URL.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Redacted
	}
	if u.RawQuery != "" {
		u.RawQuery = redactForm(u.Query()).Encode()
	}
	if u.User != nil {
		u.User = url.User(Redacted)
	}
	return u.String()
}

func redactForm(v url.Values) url.Values {
	for k := range v {
		if secretNames[strings.ToLower(k)] {
			v[k] = []string{Redacted}
		}
	}
	return v
}

// RedactBody renders a body for printing: JSON pretty-printed and forms
// decoded, with secret members replaced; anything else is summarised.
func RedactBody(contentType string, body []byte) string {
	ct, _, _ := mime.ParseMediaType(contentType)
	var out string
	switch {
	case ct == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Sprintf("(%d bytes of a malformed form)", len(body))
		}
		out = redactForm(v).Encode()
	case ct == "application/json" || strings.HasSuffix(ct, "+json") || json.Valid(body):
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return fmt.Sprintf("(%d bytes of malformed JSON)", len(body))
		}
		pretty, _ := json.Marshal(redactJSON(doc))
		out = string(pretty)
	case strings.HasPrefix(ct, "text/html"):
		return fmt.Sprintf("(an HTML page, %d bytes)", len(body))
	default:
		out = string(body)
	}
	out = jwtLike().ReplaceAllString(out, Redacted)
	if len(out) > maxShown {
		out = out[:maxShown] + fmt.Sprintf("… (%d more bytes)", len(out)-maxShown)
	}
	return out
}

func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			// "code" is secret in OAuth forms and URLs, but in JSON it is a
			// JSON-RPC or HTTP error code.
			if secretNames[strings.ToLower(k)] && k != "code" {
				x[k] = Redacted
			} else {
				x[k] = redactJSON(val)
			}
		}
	case []any:
		for i := range x {
			x[i] = redactJSON(x[i])
		}
	}
	return v
}
