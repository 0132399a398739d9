package authserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

func TestRegistrationOpen(t *testing.T) {
	as := newTestAS(t, nil)
	pub := register(t, as, map[string]any{"client_name": "Pub", "redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"})
	if pub["client_id"] == "" || pub["client_id_issued_at"] == nil || pub["client_secret"] != nil || pub["client_secret_expires_at"] != nil {
		t.Fatalf("public registration: %v", pub)
	}
	if pub["application_type"] != "native" || pub["client_name"] != "Pub" || pub["registration_access_token"] == nil {
		t.Fatalf("registered metadata not echoed: %v", pub)
	}
	conf := register(t, as, map[string]any{"redirect_uris": []string{"https://app.example.com/cb"}})
	secret, _ := conf["client_secret"].(string)
	if len(secret) < 43 || conf["client_secret_expires_at"] != float64(0) || conf["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("confidential registration: %v", conf)
	}
	if strings.Contains(as.Audit.text(), secret) || strings.Contains(as.Audit.text(), conf["registration_access_token"].(string)) {
		t.Fatal("a secret reached the log")
	}
	if ev := as.Audit.events(); len(ev) != 2 || ev[0] != "client.registered" {
		t.Fatalf("audit events %v", ev)
	}
}

func TestRegistrationBadInput(t *testing.T) {
	as := newTestAS(t, nil)
	for name, meta := range map[string]any{
		"http redirect":          map[string]any{"redirect_uris": []string{"http://app.example.com/cb"}},
		"no redirect":            map[string]any{"client_name": "x"},
		"client_credentials":     map[string]any{"redirect_uris": []string{loopback}, "grant_types": []string{"authorization_code", "client_credentials"}},
		"implicit response type": map[string]any{"redirect_uris": []string{loopback}, "response_types": []string{"token"}},
	} {
		resp, body := postJSON(t, as.URL+"/register", "", meta)
		var e map[string]any
		json.Unmarshal(body, &e)
		if resp.StatusCode != 400 || (e["error"] != "invalid_redirect_uri" && e["error"] != "invalid_client_metadata") || e["error_description"] == "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, as.URL+"/register", strings.NewReader("redirect_uris=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := do(t, http.DefaultClient, req); resp.StatusCode != 400 {
		t.Errorf("form body: %d", resp.StatusCode)
	}
}

// TestRegistrationClosed: the closed policy refuses registration (and advertises none).
func TestRegistrationClosed(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) { c.RegistrationPolicy = authserver.RegistrationClosed })
	resp, body := postJSON(t, as.URL+"/register", "", map[string]any{"redirect_uris": []string{loopback}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "disabled") {
		t.Fatalf("closed policy: %d %s", resp.StatusCode, body)
	}
	if clients, _ := as.Admin().ListClients(t.Context()); len(clients) != 0 {
		t.Fatalf("a client was stored: %v", clients)
	}
}

// TestRegistrationTokenPolicy: the token policy needs the initial access token.
func TestRegistrationTokenPolicy(t *testing.T) {
	const iat = "initial-access-token-0123456789"
	as := newTestAS(t, func(c *authserver.Config) {
		c.RegistrationPolicy = authserver.RegistrationToken
		c.InitialAccessToken = iat
	})
	meta := map[string]any{"redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"}
	for _, bearer := range []string{"", "wrong-token"} {
		resp, body := postJSON(t, as.URL+"/register", bearer, meta)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("bearer %q: %d %s", bearer, resp.StatusCode, body)
		}
	}
	if resp, body := postJSON(t, as.URL+"/register", iat, meta); resp.StatusCode != http.StatusCreated {
		t.Fatalf("with the initial access token: %d %s", resp.StatusCode, body)
	}
	if _, err := authserver.New(t.Context(), authserver.Config{
		Issuer: "https://as.example.com", Store: as.Store, KeyEncryptionKey: as.Key,
		Resources: []authserver.Resource{{URI: resourceA}}, RegistrationPolicy: authserver.RegistrationToken,
	}); err == nil {
		t.Fatal("the token policy without an initial access token was accepted")
	}
}

func TestRegistrationRateLimit(t *testing.T) {
	as := newTestAS(t, func(c *authserver.Config) { c.RegistrationRate = 3 })
	meta := map[string]any{"redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"}
	for i := range 3 {
		if resp, body := postJSON(t, as.URL+"/register", "", meta); resp.StatusCode != 201 {
			t.Fatalf("registration %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, _ := postJSON(t, as.URL+"/register", "", meta)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th registration in a minute: %d", resp.StatusCode)
	}
}

// TestRegistrationRateLimitBehindProxy: behind a trusted proxy each client address (from
// X-Forwarded-For) has its own budget; without one, X-Forwarded-For is ignored.
func TestRegistrationRateLimitBehindProxy(t *testing.T) {
	meta := `{"redirect_uris":["` + loopback + `"],"token_endpoint_auth_method":"none"}`
	post := func(as *testAS, xff string) int {
		req, _ := http.NewRequest(http.MethodPost, as.URL+"/register", strings.NewReader(meta))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		resp, _ := do(t, http.DefaultClient, req)
		return resp.StatusCode
	}
	as := newTestAS(t, func(c *authserver.Config) {
		c.RegistrationRate = 2
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	for i, want := range []int{201, 201, 429} {
		if got := post(as, "198.51.100.7, 203.0.113.1"); got != want {
			t.Fatalf("registration %d from 203.0.113.1: %d, want %d", i, got, want)
		}
	}
	if got := post(as, "203.0.113.2"); got != 201 {
		t.Fatalf("another client behind the proxy: %d", got)
	}
	if got := post(as, "not-an-address"); got != 201 { // counted against the proxy itself
		t.Fatalf("malformed X-Forwarded-For: %d", got)
	}

	direct := newTestAS(t, func(c *authserver.Config) { c.RegistrationRate = 2 })
	for i, want := range []int{201, 201, 429} {
		if got := post(direct, fmt.Sprintf("203.0.113.%d", i)); got != want {
			t.Fatalf("untrusted X-Forwarded-For must not split the budget: registration %d: %d", i, got)
		}
	}
}

// TestRegistrationManagement exercises RFC 7592 read, update and delete.
func TestRegistrationManagement(t *testing.T) {
	as := devAS(t, nil)
	reg := register(t, as, map[string]any{"client_name": "Old", "redirect_uris": []string{loopback}, "token_endpoint_auth_method": "none"})
	uri, rat, id := reg["registration_client_uri"].(string), reg["registration_access_token"].(string), reg["client_id"].(string)
	if uri != as.URL+"/register/"+id {
		t.Fatalf("registration_client_uri %s", uri)
	}
	call := func(method, bearer string, body any) (int, map[string]any) {
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		} else {
			rd = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, uri, rd)
		req.Header.Set("Content-Type", "application/json")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, b := do(t, http.DefaultClient, req)
		out := map[string]any{}
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	if status, got := call("GET", rat, nil); status != 200 || got["client_name"] != "Old" || got["client_id"] != id {
		t.Fatalf("read: %d %v", status, got)
	}
	if status, _ := call("GET", "wrong", nil); status != 401 {
		t.Fatalf("read with a wrong token: %d", status)
	}
	newURI := "http://127.0.0.1:9999/new"
	status, got := call("PUT", rat, map[string]any{"client_id": id, "client_name": "New", "redirect_uris": []string{newURI}, "token_endpoint_auth_method": "none"})
	if status != 200 || got["client_name"] != "New" {
		t.Fatalf("update: %d %v", status, got)
	}
	// The old redirect URI is gone.
	_, challenge := pkce()
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams(id, challenge)), nil)
	if resp, _ := do(t, noRedirect, req); resp.StatusCode != 400 {
		t.Fatalf("old redirect URI after update: %d", resp.StatusCode)
	}
	p := codeParams(id, challenge)
	p.Set("redirect_uri", newURI)
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("code") == "" {
		t.Fatalf("new redirect URI: %v", q)
	}
	if status, _ := call("PUT", rat, map[string]any{"client_id": id, "redirect_uris": []string{newURI}}); status != 400 {
		t.Fatalf("switching to confidential: %d", status)
	}
	if status, _ := call("DELETE", rat, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := call("GET", rat, nil); status != 401 {
		t.Fatalf("read after delete: %d", status)
	}
	status, body := tokenRequest(t, as, url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {"x"}})
	wantOAuthError(t, "deleted client", status, body, 401, "invalid_client")
}
