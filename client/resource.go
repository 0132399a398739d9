// Canonical server URIs for the resource parameter (RFC 8707 §2; MCP authorization
// specification, "Canonical Server URI") and the https-or-loopback rule for endpoints
// (OAuth 2.1 §1.5, RFC 8252 §8.3).

package client

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// serverURL is a canonical MCP server URI: lower-case scheme and host, no default port,
// no fragment.
type serverURL struct{ u *url.URL }

func parseServerURL(rule endpointRule, raw string) (serverURL, error) {
	if raw == "" {
		return serverURL{}, fmt.Errorf("Config.ServerURL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return serverURL{}, fmt.Errorf("server URL: %w", err)
	}
	if err := rule.check(u); err != nil {
		return serverURL{}, fmt.Errorf("server URL %s: %w", raw, err)
	}
	return serverURL{canonical(u)}, nil
}

// canonical returns a copy of u in canonical form.
func canonical(u *url.URL) *url.URL {
	c := *u
	c.Scheme = strings.ToLower(c.Scheme)
	host, port := strings.ToLower(c.Hostname()), c.Port()
	if (c.Scheme == "https" && port == "443") || (c.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	c.Host = host
	c.Fragment, c.RawFragment = "", ""
	c.User = nil
	return &c
}

func (s serverURL) String() string { return s.u.String() }

// checkResourceIndicator checks a resource value given in Config.Resource: an absolute URI
// without a fragment (RFC 8707 §2).
func checkResourceIndicator(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("Config.Resource %q is not an absolute URI without a fragment (RFC 8707 §2)", sanitize(raw))
	}
	return nil
}

// origin returns scheme://host[:port] of the server.
func (s serverURL) origin() string { return s.u.Scheme + "://" + s.u.Host }

// sameOrigin reports whether u is on the server's origin.
func (s serverURL) sameOrigin(u *url.URL) bool {
	c := canonical(u)
	return c.Scheme == s.u.Scheme && c.Host == s.u.Host
}

// covers reports whether a protected resource metadata "resource" value identifies this
// server: the same URI, or the same origin and a path prefix at a segment boundary (a
// resource server protecting several endpoints under one identifier).
func (s serverURL) covers(resource string) bool {
	r, err := url.Parse(resource)
	if err != nil || r.Fragment != "" || !r.IsAbs() {
		return false
	}
	rc := canonical(r)
	if rc.Scheme != s.u.Scheme || rc.Host != s.u.Host || rc.RawQuery != "" && rc.RawQuery != s.u.RawQuery {
		return false
	}
	rp, sp := strings.TrimSuffix(rc.EscapedPath(), "/"), strings.TrimSuffix(s.u.EscapedPath(), "/")
	return sp == rp || strings.HasPrefix(sp, rp+"/")
}

// endpointRule decides which URLs the client sends requests (and credentials) to: https, and
// http on a loopback host; with allowHTTP (Config.AllowHTTP) also http on any host.
type endpointRule struct{ allowHTTP bool }

// check refuses a URL the rule does not allow.
func (r endpointRule) check(u *url.URL) error {
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%w: not an absolute URL", ErrInsecureURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if r.allowHTTP || isLoopback(u.Hostname()) {
			return nil
		}
	}
	return ErrInsecureURL
}

// checkString parses raw and checks it.
func (r endpointRule) checkString(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInsecureURL, err)
	}
	return u, r.check(u)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
