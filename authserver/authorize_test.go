package authserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

func TestDevLoginIssuesCodeWithStateAndIss(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	q := getRedirect(t, noRedirect, authorizeURL(as, codeParams(id, challenge)))
	if q.Get("code") == "" || q.Get("state") != "st-123" || q.Get("iss") != as.URL {
		t.Fatalf("authorization response %v: want code, state=st-123, iss=%s", q, as.URL)
	}
}

func TestDevLoginRefusedOffLoopback(t *testing.T) {
	as := newTestAS(t, nil)
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "192.168.1.5:8080", ""} {
		_, err := authserver.New(t.Context(), authserver.Config{
			Issuer: "http://127.0.0.1:8080", ListenAddr: listen, Store: as.Store, KeyEncryptionKey: as.Key,
			Resources: []authserver.Resource{{URI: resourceA}}, DevLoginUser: "dev",
		})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("dev login listening on %q: err = %v, want a loopback refusal", listen, err)
		}
	}
}

// TestPlainPKCERefused: code_challenge_method plain, or none (which means plain), is refused
// with an error redirected to the client, carrying iss.
func TestPlainPKCERefused(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, _ := pkce()
	for _, method := range []string{"plain", ""} {
		p := codeParams(id, verifier) // plain: the challenge is the verifier
		if method == "" {
			p.Del("code_challenge_method")
		} else {
			p.Set("code_challenge_method", method)
		}
		q := getRedirect(t, noRedirect, authorizeURL(as, p))
		if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("iss") != as.URL || q.Get("state") != "st-123" {
			t.Errorf("method %q: response %v, want invalid_request with iss and state and no code", method, q)
		}
	}
	p := codeParams(id, "")
	p.Del("code_challenge")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != "invalid_request" {
		t.Errorf("no code_challenge: %v", q)
	}
}

// TestRedirectURIMismatchRefused: a redirect URI one character off or with an added query is
// not redirected to: the user sees an error page.
func TestRedirectURIMismatchRefused(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	for _, bad := range []string{
		"http://127.0.0.1:43210/callbacK",
		"http://127.0.0.1:43210/callback?x=1",
		"http://127.0.0.1:43210/callback/",
		"http://127.0.0.2:43210/callback",
		"https://evil.example/callback",
	} {
		p := codeParams(id, challenge)
		p.Set("redirect_uri", bad)
		req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, p), nil)
		resp, body := do(t, noRedirect, req)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "not registered") {
			t.Errorf("redirect_uri %s: %d Location=%q, want 400 error page", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Another port on the loopback redirect URI is fine (RFC 8252 §7.3).
	p := codeParams(id, challenge)
	p.Set("redirect_uri", "http://127.0.0.1:5555/callback")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("code") == "" {
		t.Errorf("loopback with another port: %v", q)
	}
}

func TestUnknownClientShowsErrorPage(t *testing.T) {
	as := devAS(t, nil)
	_, challenge := pkce()
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams("no-such-client", challenge)), nil)
	resp, body := do(t, noRedirect, req)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "not registered") {
		t.Fatalf("unknown client: %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q lacks frame-ancestors 'none'", csp)
	}
}

// TestUnknownResourceRefused: tokens for resource A cannot be obtained for an unknown resource
// B, neither at the authorization endpoint nor at the token endpoint.
func TestUnknownResourceRefused(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	p := codeParams(id, challenge)
	p.Set("resource", resourceB)
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != "invalid_target" || q.Get("iss") != as.URL {
		t.Fatalf("authorize for unknown resource: %v, want invalid_target", q)
	}
	code := devCode(t, as, codeParams(id, challenge))
	form := codeForm(id, code, verifier)
	form.Set("resource", resourceB)
	status, body := tokenRequest(t, as, form)
	wantOAuthError(t, "token for resource B", status, body, 400, "invalid_target")
}

func TestScopeChecks(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	p := codeParams(id, challenge)
	p.Set("scope", "weather:read admin")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != "invalid_scope" {
		t.Fatalf("unknown scope: %v, want invalid_scope", q)
	}
	// offline_access is accepted and ignored; no scope means every scope of the resource.
	p.Set("scope", "weather:read offline_access")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("code") == "" {
		t.Fatalf("offline_access: %v", q)
	}
}

func TestUnsupportedResponseTypeAndMode(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	for param, want := range map[string][2]string{
		"response_type": {"token", "unsupported_response_type"},
		"response_mode": {"fragment", "invalid_request"},
	} {
		p := codeParams(id, challenge)
		p.Set(param, want[0])
		if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != want[1] || q.Get("code") != "" {
			t.Errorf("%s=%s: %v, want %s", param, want[0], q, want[1])
		}
	}
}

func TestDuplicateParameterRefused(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	_, challenge := pkce()
	p := codeParams(id, challenge)
	p.Add("state", "second")
	if q := getRedirect(t, noRedirect, authorizeURL(as, p)); q.Get("error") != "invalid_request" {
		t.Fatalf("duplicate state: %v", q)
	}
	p = codeParams(id, challenge)
	p.Add("redirect_uri", loopback)
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, p), nil)
	if resp, _ := do(t, noRedirect, req); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("duplicate redirect_uri: %d, want an error page", resp.StatusCode)
	}
}

func TestAuthorizeWithoutRedirectURIUsesTheOnlyOne(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	p := codeParams(id, challenge)
	p.Del("redirect_uri")
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, p), nil)
	resp, _ := do(t, noRedirect, req)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), loopback+"?") {
		t.Fatalf("got %d %s", resp.StatusCode, loc)
	}
	form := codeForm(id, loc.Query().Get("code"), verifier)
	form.Del("redirect_uri")
	if status, body := tokenRequest(t, as, form); status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
}

// TestHostileClientIDIsUnknown: a client_id with NUL or invalid UTF-8 is an unknown client
// (an error page, invalid_client at the token endpoint), never a server error.
func TestHostileClientIDIsUnknown(t *testing.T) {
	as := devAS(t, nil)
	_, challenge := pkce()
	for _, id := range []string{"a\x00b", "\xff\xfe", strings.Repeat("x", 5000)} {
		req, _ := http.NewRequest(http.MethodGet, authorizeURL(as, codeParams(id, challenge)), nil)
		if resp, body := do(t, noRedirect, req); resp.StatusCode != 400 {
			t.Errorf("authorize with client_id %q: %d %s", id, resp.StatusCode, body)
		}
		status, body := tokenRequest(t, as, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {id}})
		wantOAuthError(t, "token with a hostile client_id", status, body, 401, "invalid_client")
	}
}
