package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/internal/safehttp"
	"github.com/mcpauth/mcpauth/internal/safehttp/dnstest"
)

// TestCIMDNameResolvingInternalRefused: during real authorization requests, a Client ID
// Metadata Document URL whose host name resolves (through a DNS server, a lookup per fetch) to
// 127.0.0.1 and then to 169.254.169.254 is refused at dial time: the error page, no code, and
// the document server — which holds a valid document under a certificate valid for that name
// — is never reached. The control: the same fetcher with the guard lifted for that host gets
// the document and the authorization succeeds.
func TestCIMDNameResolvingInternalRefused(t *testing.T) {
	var hits atomic.Int32
	var id string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": id, "client_name": "Rebinder", "redirect_uris": []string{loopback},
			"grant_types": []string{"authorization_code"}, "token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(ts.Close)
	port := strings.TrimPrefix(ts.URL, "https://127.0.0.1:")
	id = "https://app.example.com:" + port + "/client.json" // the test certificate covers *.example.com
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	authorize := func(opts safehttp.Options) url.Values {
		t.Helper()
		as := devAS(t, func(c *authserver.Config) {
			c.DisableCIMD = false
			c.CIMD = authserver.NewCIMDFetcher(authserver.CIMDOptions{HTTP: opts})
		})
		_, challenge := pkce()
		req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams(id, challenge)), nil)
		resp, body := do(t, noRedirect, req)
		if resp.StatusCode == http.StatusFound {
			loc, _ := url.Parse(resp.Header.Get("Location"))
			return loc.Query()
		}
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Unknown application") {
			t.Fatalf("authorization: %d %s", resp.StatusCode, body)
		}
		return nil
	}

	dns := dnstest.Start(t, "app.example.com.", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("169.254.169.254"))
	for range 2 {
		if q := authorize(safehttp.Options{RootCAs: pool, Resolver: dns.Resolver()}); q != nil {
			t.Fatalf("authorization with a document on an internal address: redirected %v", q)
		}
	}
	if hits.Load() != 0 || dns.Queries() != 2 {
		t.Fatalf("document server reached %d times, %d A queries (want 0 and 2)", hits.Load(), dns.Queries())
	}

	control := dnstest.Start(t, "app.example.com.", netip.MustParseAddr("127.0.0.1"))
	q := authorize(safehttp.Options{RootCAs: pool, Resolver: control.Resolver(), TestOnlyAllowHost: "app.example.com:" + port})
	if q.Get("code") == "" || hits.Load() != 1 {
		t.Fatalf("control without the guard: %v, %d hits", q, hits.Load())
	}
}
