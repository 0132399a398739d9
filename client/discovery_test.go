package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestResourceMetadataDiscoveryOrder: the challenge's URL first, else the path-aware
// well-known URL, then the root one; never the root first.
func TestResourceMetadataDiscoveryOrder(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()
	c, _ := New(Config{ServerURL: srv.URL + "/api/mcp", Store: NewMemoryStore()})
	ctx := context.Background()

	_, _, err := c.fetchResourceMetadata(ctx, "")
	want := []string{"/.well-known/oauth-protected-resource/api/mcp", "/.well-known/oauth-protected-resource"}
	if !errors.Is(err, errNoDocument) || !slices.Equal(paths, want) {
		t.Fatalf("without a challenge URL: paths %v, err %v; want %v", paths, err, want)
	}
	paths = nil
	c.fetchResourceMetadata(ctx, srv.URL+"/custom/prm")
	if len(paths) != 3 || paths[0] != "/custom/prm" {
		t.Fatalf("with a challenge URL: paths %v", paths)
	}
}

func TestAuthServerMetadataURLs(t *testing.T) {
	for _, tc := range []struct {
		issuer string
		want   []string
	}{
		{"https://as.example", []string{"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"}},
		{"https://as.example/", []string{"https://as.example/.well-known/oauth-authorization-server", "https://as.example/.well-known/openid-configuration"}},
		{"https://as.example/tenant1", []string{
			"https://as.example/.well-known/oauth-authorization-server/tenant1",
			"https://as.example/.well-known/openid-configuration/tenant1",
			"https://as.example/tenant1/.well-known/openid-configuration",
		}},
	} {
		got, err := authServerMetadataURLs(endpointRule{}, tc.issuer)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.issuer, got, err, tc.want)
		}
	}
	for _, bad := range []string{"http://as.example", "https://as.example/?q=1", "ftp://as.example", "/relative"} {
		if _, err := authServerMetadataURLs(endpointRule{}, bad); err == nil {
			t.Errorf("issuer %q accepted", bad)
		}
	}
}

// TestResourceMismatchRefused: PRM for another resource stops the flow before any
// authorization request.
func TestResourceMismatchRefused(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	rs.prmResource = "https://evil.example/mcp"
	b := &headlessBrowser{}
	_, err := Connect(testContext(t), testConfig(rs, b))
	var rm *ResourceMismatchError
	if !errors.As(err, &rm) || rm.Got != "https://evil.example/mcp" {
		t.Fatalf("Connect error = %v, want a ResourceMismatchError", err)
	}
	if b.count() != 0 || as.count("register") != 0 || as.count("metadata") != 0 {
		t.Fatalf("requests after a resource mismatch: %d authorizations, %d registrations, %d metadata", b.count(), as.count("register"), as.count("metadata"))
	}
}

func TestResourceCovers(t *testing.T) {
	s, _ := parseServerURL(endpointRule{}, "https://API.example:443/mcp/v1")
	for resource, want := range map[string]bool{
		"https://api.example/mcp/v1":      true,
		"https://api.example/mcp/v1/":     true,
		"https://api.example/mcp":         true,
		"https://api.example":             true,
		"https://api.example/mc":          false,
		"https://api.example/mcp/v2":      false,
		"http://api.example/mcp/v1":       false,
		"https://api.example:8443/mcp":    false,
		"https://evil.example/mcp/v1":     false,
		"https://api.example/mcp/v1#x":    false,
		"/mcp/v1":                         false,
		"https://api.example.evil/mcp/v1": false,
	} {
		if got := s.covers(resource); got != want {
			t.Errorf("covers(%q) = %v, want %v", resource, got, want)
		}
	}
	if s.String() != "https://api.example/mcp/v1" {
		t.Errorf("canonical = %q", s.String())
	}
}

func TestServerURLRefused(t *testing.T) {
	for _, u := range []string{"", "http://example.com/mcp", "ftp://x/y", "mcp", "https://"} {
		if _, err := New(Config{ServerURL: u, Store: NewMemoryStore()}); err == nil {
			t.Errorf("server URL %q accepted", u)
		}
	}
	if _, err := New(Config{ServerURL: "http://localhost:8080/mcp", Store: NewMemoryStore()}); err != nil {
		t.Errorf("http on loopback refused: %v", err)
	}
}

func TestPKCEUnsupportedRefused(t *testing.T) {
	for _, methods := range []any{nil, []string{"plain"}} {
		as := newTestAS(t)
		as.meta["code_challenge_methods_supported"] = methods
		rs := newTestRS(t, as)
		b := &headlessBrowser{}
		_, err := Connect(testContext(t), testConfig(rs, b))
		var pe *PKCEUnsupportedError
		if !errors.As(err, &pe) || b.count() != 0 || as.count("register") != 0 {
			t.Fatalf("methods %v: error %v after %d authorizations; want PKCEUnsupportedError and none", methods, err, b.count())
		}
	}
}

func TestIssuerMismatchInMetadata(t *testing.T) {
	as := newTestAS(t)
	as.meta["issuer"] = "https://other.example"
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	_, err := Connect(testContext(t), testConfig(rs, b))
	var im *IssuerMismatchError
	if !errors.As(err, &im) || im.Got != "https://other.example" || b.count() != 0 {
		t.Fatalf("Connect error = %v, want an IssuerMismatchError before authorization", err)
	}
	if n := as.count("metadata"); n != 1 {
		t.Fatalf("metadata fetched %d times in one Connect; a failed discovery must not be repeated", n)
	}
}

// TestIssInAuthorizationResponse: RFC 9207 iss is required when advertised and must match.
func TestIssInAuthorizationResponse(t *testing.T) {
	for _, tc := range []struct {
		name       string
		advertised bool
		omit       bool
		wrong      string
		ok         bool
	}{
		{"advertised and present", true, false, "", true},
		{"advertised and missing", true, true, "", false},
		{"wrong issuer", true, false, "https://evil.example", false},
		{"wrong issuer, not advertised", false, false, "https://evil.example", false},
		{"not advertised, missing", false, true, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := newTestAS(t)
			if !tc.advertised {
				as.meta["authorization_response_iss_parameter_supported"] = nil
			}
			as.omitIss, as.wrongIss = tc.omit, tc.wrong
			rs := newTestRS(t, as)
			s, err := Connect(testContext(t), testConfig(rs, &headlessBrowser{}))
			if err == nil {
				s.Close()
			}
			var im *IssuerMismatchError
			if tc.ok != (err == nil) || !tc.ok && !errors.As(err, &im) {
				t.Fatalf("Connect error = %v", err)
			}
			if !tc.ok && as.count("token") != 0 {
				t.Fatal("the code was exchanged despite an iss failure")
			}
		})
	}
}

// TestLegacyServerWithMetadata: a 2025-03-26 server without PRM whose origin serves
// authorization server metadata.
func TestLegacyServerWithMetadata(t *testing.T) {
	as, rs := newLegacyServer(t)
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, &headlessBrowser{}))
	callEcho(t, ctx, s, "legacy")
	s.Close()
	if as.count("metadata") != 1 || as.count("register") != 1 {
		t.Fatalf("metadata %d, registrations %d", as.count("metadata"), as.count("register"))
	}
}

// TestLegacyIssuerOnServerOrigin: in the 2025-03-26 fallback the metadata at the server
// origin may name an issuer with a path on that origin; one on another origin is refused.
func TestLegacyIssuerOnServerOrigin(t *testing.T) {
	as, rs := newLegacyServer(t)
	as.meta["issuer"] = as.issuer + "/oauth"
	as.meta["authorization_response_iss_parameter_supported"] = nil
	as.omitIss = true
	ctx := testContext(t)
	cfg := testConfig(rs, &headlessBrowser{})
	s := mustConnect(t, ctx, cfg)
	s.Close()
	entries, _ := cfg.Store.List(ctx, rs.url)
	if len(entries) != 1 || entries[0].Issuer != as.issuer+"/oauth" {
		t.Fatalf("credentials not bound to the metadata's issuer: %+v", entries)
	}

	as2, rs2 := newLegacyServer(t)
	as2.meta["issuer"] = "https://other.example"
	_, err := Connect(ctx, testConfig(rs2, &headlessBrowser{}))
	var im *IssuerMismatchError
	if !errors.As(err, &im) {
		t.Fatalf("Connect error = %v, want IssuerMismatchError", err)
	}
}

// TestLegacyDefaultEndpoints: without any metadata the 2025-03-26 default endpoints
// /authorize, /token and /register at the server origin are used.
func TestLegacyDefaultEndpoints(t *testing.T) {
	mux := http.NewServeMux()
	as := newTestASOn(t, mux)
	rs := newTestRSOn(t, as, mux, false)
	rs.noPRM = true
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/") {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(wrapped)
	defer srv.Close()
	as.srv, rs.srv, as.issuer, rs.url = srv, srv, srv.URL, srv.URL+"/mcp"
	as.omitIss = true
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, &headlessBrowser{}))
	callEcho(t, ctx, s, "defaults")
	s.Close()
	if as.count("register") != 1 || as.count("authorize") != 1 || as.count("token") != 1 {
		t.Fatalf("register %d, authorize %d, token %d", as.count("register"), as.count("authorize"), as.count("token"))
	}
}

func TestScopeSelection(t *testing.T) {
	prmScopes := []string{"mcp:read", "mcp:write"}
	for _, tc := range []struct {
		name      string
		cfg       []string
		challenge []string
		prm       []string
		as        []string
		want      []string
	}{
		{"challenge wins", nil, []string{"mcp:read"}, prmScopes, nil, []string{"mcp:read"}},
		{"prm when no challenge scope", nil, nil, prmScopes, nil, prmScopes},
		{"none when neither", nil, nil, nil, nil, nil},
		{"configured wins", []string{"x"}, []string{"mcp:read"}, prmScopes, nil, []string{"x"}},
		{"offline_access when the AS lists it", nil, []string{"mcp:read"}, nil, []string{"mcp:read", "offline_access"}, []string{"mcp:read", "offline_access"}},
		{"no offline_access when it does not", nil, []string{"mcp:read"}, nil, []string{"mcp:read"}, []string{"mcp:read"}},
		{"no lone offline_access", nil, nil, nil, []string{"offline_access"}, nil},
	} {
		c, _ := New(Config{ServerURL: "https://a.example/mcp", Scopes: tc.cfg, Store: NewMemoryStore()})
		d := &discovery{as: defaultEndpoints("https://a.example")}
		d.as.ScopesSupported = tc.as
		if tc.prm != nil {
			d.prm = &oauthexPRM{ScopesSupported: tc.prm}
		}
		if got := c.selectScopes(tc.challenge, d); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestScopeOmittedWhenUnknown: no scope parameter at all when nothing names a scope.
func TestScopeOmittedWhenUnknown(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	s, err := Connect(testContext(t), testConfig(rs, &headlessBrowser{}))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if as.authReqs[0].Has("scope") {
		t.Fatalf("scope sent: %q", as.authReqs[0].Get("scope"))
	}
	if got := as.authReqs[0].Get("resource"); got != rs.url {
		t.Fatalf("resource = %q, want %q", got, rs.url)
	}
}
