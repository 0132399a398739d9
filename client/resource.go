// Canonical server URIs for the resource parameter (RFC 8707 §2; MCP authorization
// specification, "Canonical Server URI") and the https-or-loopback rule for endpoints.

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

func parseServerURL(raw string) (serverURL, error) {
	if raw == "" {
		return serverURL{}, fmt.Errorf("Config.ServerURL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return serverURL{}, fmt.Errorf("server URL: %w", err)
	}
	if err := checkEndpoint(u); err != nil {
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

// checkEndpoint refuses a URL that is not https, or http on a loopback host.
func checkEndpoint(u *url.URL) error {
	if !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%w: not an absolute URL", ErrInsecureURL)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return ErrInsecureURL
}

func checkEndpointString(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInsecureURL, err)
	}
	return u, checkEndpoint(u)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
