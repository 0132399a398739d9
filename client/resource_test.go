package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// internalNames returns an HTTP client that reaches every *.internal host name at the
// loopback address, standing in for a private network's DNS, and a browser using it.
func internalNames(t *testing.T) (*http.Client, func(ctx context.Context, authURL string) error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(host, ".internal") {
				host = "127.0.0.1"
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
		},
	}}
	t.Cleanup(hc.CloseIdleConnections)
	browse := func(ctx context.Context, authURL string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	return hc, browse
}

// onInternalName moves a URL of a loopback test server to the host name name.internal.
func onInternalName(t *testing.T, raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = name + ".internal:" + u.Port()
	return u.String()
}

// TestAllowHTTP: plain http to a host that is not loopback is refused unless
// Config.AllowHTTP, and with it the whole flow (discovery, registration, authorization,
// token, MCP requests) runs over http.
func TestAllowHTTP(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	as.issuer = onInternalName(t, as.issuer, "as")
	rs.url = onInternalName(t, rs.url, "mcp")
	hc, browse := internalNames(t)
	cfg := Config{ServerURL: rs.url, Store: NewMemoryStore(), HTTPClient: hc, OpenBrowser: browse, Stderr: io.Discard}

	if _, err := New(cfg); !errors.Is(err, ErrInsecureURL) {
		t.Fatalf("New with an http server URL off loopback: err = %v, want ErrInsecureURL", err)
	}
	cfg.AllowHTTP = true
	ctx := testContext(t)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Connect(ctx, nil)
	if err != nil {
		t.Fatalf("Connect with AllowHTTP: %v", err)
	}
	defer s.Close()
	if got := callEcho(t, ctx, s, "plain"); got != "echo: plain" {
		t.Fatalf("tool result %q", got)
	}
	if as.count("token") != 1 || as.count("register") != 1 {
		t.Fatalf("token requests %d, registrations %d; want 1 and 1", as.count("token"), as.count("register"))
	}
}

// TestAllowHTTPStillRefusesOtherSchemes: AllowHTTP widens https to http, nothing else.
func TestAllowHTTPStillRefusesOtherSchemes(t *testing.T) {
	for _, raw := range []string{"ftp://mcp.example/mcp", "mcp.example/mcp", "//mcp.example/mcp"} {
		if _, err := New(Config{ServerURL: raw, AllowHTTP: true, Store: NewMemoryStore()}); !errors.Is(err, ErrInsecureURL) {
			t.Errorf("%s: err = %v, want ErrInsecureURL", raw, err)
		}
	}
}

// TestResourceOverride: Config.Resource replaces the discovered resource indicator in the
// authorization request, the code exchange and the refresh (RFC 8707 §2).
func TestResourceOverride(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	var clk clock
	cfg := testConfig(rs, b)
	cfg.Now = clk.now
	cfg.Resource = "https://audience.example/api"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := c.Token(ctx); err != nil {
		t.Fatalf("Token: %v", err)
	}
	clk.advance(2 * time.Hour)
	if _, err := c.Token(ctx); err != nil {
		t.Fatalf("Token after expiry (refresh): %v", err)
	}
	if len(b.urls) != 1 {
		t.Fatalf("authorizations = %d, want 1", len(b.urls))
	}
	u, _ := url.Parse(b.urls[0])
	if got := u.Query()["resource"]; len(got) != 1 || got[0] != cfg.Resource {
		t.Errorf("authorization request resource = %q, want %q", got, cfg.Resource)
	}
	for _, grant := range []string{"authorization_code", "refresh_token"} {
		forms := as.tokenForms(grant)
		if len(forms) != 1 || forms[0].Get("resource") != cfg.Resource {
			t.Errorf("%s requests = %v, want one with resource %q", grant, forms, cfg.Resource)
		}
	}
	for _, bad := range []string{"not a uri", "relative/path", "https://a.example/#frag"} {
		cfg.Resource = bad
		if _, err := New(cfg); err == nil {
			t.Errorf("Config.Resource %q was accepted", bad)
		}
	}
}
