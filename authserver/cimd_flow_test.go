package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/internal/safehttp"
)

// cimdHost serves a Client ID Metadata Document over TLS on loopback and returns a server
// configuration that may fetch it (the one test host the SSRF guard lets through).
func cimdHost(t *testing.T, doc func(clientID string) map[string]any) (clientID string, mutate func(*authserver.Config)) {
	t.Helper()
	var id string
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc(id))
	}))
	t.Cleanup(ts.Close)
	id = ts.URL + "/client.json"
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	fetcher := authserver.NewCIMDFetcher(authserver.CIMDOptions{
		HTTP: safehttp.Options{RootCAs: pool, TestOnlyAllowHost: strings.TrimPrefix(ts.URL, "https://")},
	})
	return id, func(c *authserver.Config) { c.DisableCIMD = false; c.CIMD = fetcher }
}

// TestCIMDClientFlow: a client identified by its metadata document URL gets a code and tokens
// without registering; a redirect URI its document does not list is refused on a page.
func TestCIMDClientFlow(t *testing.T) {
	id, mutate := cimdHost(t, func(id string) map[string]any {
		return map[string]any{
			"client_id": id, "client_name": "CIMD App", "redirect_uris": []string{loopback},
			"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
		}
	})
	as := devAS(t, mutate)
	_, m := getJSON(t, as.URL+"/.well-known/oauth-authorization-server")
	if m["client_id_metadata_document_supported"] != true {
		t.Fatalf("metadata: %v", m["client_id_metadata_document_supported"])
	}
	tok := tokens(t, as, id)
	claims, _ := verifyJWT(t, as, tok["access_token"].(string))
	if claims["client_id"] != id {
		t.Fatalf("client_id claim %v", claims["client_id"])
	}
	if status, body := tokenRequest(t, as, refreshForm(id, tok["refresh_token"].(string))); status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}

	_, challenge := pkce()
	p := codeParams(id, challenge)
	p.Set("redirect_uri", "http://127.0.0.1:43210/other")
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, p), nil)
	if resp, body := do(t, noRedirect, req); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("unlisted redirect URI: %d %s", resp.StatusCode, body)
	}
}

// TestCIMDDocumentMismatchRefused: a document whose client_id is not its URL identifies no
// client; the user sees an error page, nothing is redirected.
func TestCIMDDocumentMismatchRefused(t *testing.T) {
	id, mutate := cimdHost(t, func(string) map[string]any {
		return map[string]any{"client_id": "https://elsewhere.example/client.json", "redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"}
	})
	as := devAS(t, mutate)
	_, challenge := pkce()
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams(id, challenge)), nil)
	resp, body := do(t, noRedirect, req)
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "Unknown application") {
		t.Fatalf("mismatched document: %d %s", resp.StatusCode, body)
	}
}

// TestCIMDConsentShowsURL: the consent page names the document URL and the redirect host.
func TestCIMDConsentShowsURL(t *testing.T) {
	id, mutate := cimdHost(t, func(id string) map[string]any {
		return map[string]any{"client_id": id, "client_name": "CIMD App", "redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"}
	})
	as := newTestAS(t, mutate)
	addUser(t, as, "erin", "password-of-erin", "weather:read")
	b := newBrowser(t)
	_, challenge := pkce()
	page := formSignIn(t, b, as, authorizeURL(as, codeParams(id, challenge)), "erin")
	if !strings.Contains(page, "CIMD App") || !strings.Contains(page, id) || !strings.Contains(page, "localhost-warning") {
		t.Fatalf("consent page:\n%s", page)
	}
}

// TestCIMDRefusalHidesNetworkDetails: a document URL on a private address is refused on a page
// that does not reveal the address it resolved to.
func TestCIMDRefusalHidesNetworkDetails(t *testing.T) {
	as := devAS(t, func(c *authserver.Config) {
		c.DisableCIMD = false
		c.CIMD = authserver.NewCIMDFetcher(authserver.CIMDOptions{})
	})
	_, challenge := pkce()
	id := "https://localhost:1/client.json" // resolves to loopback: refused by the SSRF guard
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams(id, challenge)), nil)
	resp, body := do(t, noRedirect, req)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "Unknown application") {
		t.Fatalf("private CIMD host: %d %s", resp.StatusCode, body)
	}
	for _, leak := range []string{"127.0.0.1", "::1", "dial"} {
		if strings.Contains(string(body), leak) {
			t.Fatalf("the error page reveals %q:\n%s", leak, body)
		}
	}
}
