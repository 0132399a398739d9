package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/authserver"
)

// verifyJWT verifies an access token against the server's published JWKS, as a resource
// server would, and returns its claims and header.
func verifyJWT(t *testing.T, as *testAS, tok string) (map[string]any, jose.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, as.URL+"/jwks", nil)
	resp, body := do(t, http.DefaultClient, req)
	if resp.StatusCode != 200 {
		t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not published in the JWKS", h.KeyID)
	}
	claims := map[string]any{}
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return claims, h
}

func TestAccessTokenIsRFC9068JWT(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	tok := tokens(t, as, id)
	if tok["token_type"] != "Bearer" || tok["expires_in"].(float64) != 3600 || tok["scope"] != "weather:read" || tok["refresh_token"] == nil {
		t.Fatalf("token response %v", tok)
	}
	claims, h := verifyJWT(t, as, tok["access_token"].(string))
	if h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != "ES256" || h.KeyID == "" {
		t.Fatalf("header %+v", h)
	}
	dev, err := as.Store.GetUserByName(t.Context(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"iss": as.URL, "aud": resourceA, "client_id": id, "scope": "weather:read", "sub": dev.ID} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	for _, k := range []string{"exp", "iat", "jti"} {
		if claims[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}
}

// TestPKCEVerifierRequired: a missing verifier is refused without spending the code; a wrong
// one is refused.
func TestPKCEVerifierRequired(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(id, challenge))

	form := codeForm(id, code, "")
	form.Del("code_verifier")
	status, body := tokenRequest(t, as, form)
	wantOAuthError(t, "missing verifier", status, body, 400, "invalid_request")

	other, _ := pkce()
	status, body = tokenRequest(t, as, codeForm(id, code, other))
	wantOAuthError(t, "wrong verifier", status, body, 400, "invalid_grant")

	// The code was spent by the failed attempt: the right verifier no longer helps.
	status, body = tokenRequest(t, as, codeForm(id, code, verifier))
	wantOAuthError(t, "after a wrong verifier", status, body, 400, "invalid_grant")
}

func TestTokenRedirectURIMustMatch(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(id, challenge))
	form := codeForm(id, code, verifier)
	form.Set("redirect_uri", loopback+"?x=1")
	status, body := tokenRequest(t, as, form)
	wantOAuthError(t, "redirect_uri with an added query", status, body, 400, "invalid_grant")
}

// TestCodeReplayRevokesTokens: the second redemption of a code fails and revokes the tokens
// the first one issued (the refresh token stops working, introspection says inactive).
func TestCodeReplayRevokesTokens(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(id, challenge))
	status, tok := tokenRequest(t, as, codeForm(id, code, verifier))
	if status != 200 {
		t.Fatalf("first redemption: %d %v", status, tok)
	}
	status, body := tokenRequest(t, as, codeForm(id, code, verifier))
	wantOAuthError(t, "replayed code", status, body, 400, "invalid_grant")

	status, body = tokenRequest(t, as, url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {tok["refresh_token"].(string)}})
	wantOAuthError(t, "refresh after replay", status, body, 400, "invalid_grant")
	rs := resourceServer(t, as)
	if got := introspect(t, as, rs, tok["access_token"].(string)); got["active"] != false {
		t.Fatalf("access token after replay: %v", got)
	}
	if !strings.Contains(strings.Join(as.Audit.events(), ","), "code.replay") {
		t.Fatalf("no code.replay audit event in %v", as.Audit.events())
	}
}

// TestConcurrentCodeRedemption: N simultaneous redemptions of one code give exactly one token.
func TestConcurrentCodeRedemption(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(id, challenge))
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i], _ = tokenRequest(t, as, codeForm(id, code, verifier))
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 400:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d successful redemptions of one code, want exactly 1 (statuses %v)", ok, statuses)
	}
}

func refreshForm(id, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {rt}}
}

// TestRefreshReuseRevokesFamily: rotation gives a new refresh token each time; presenting a
// rotated one revokes the whole family, including the newest token.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	first := tokens(t, as, id)
	rt1 := first["refresh_token"].(string)
	status, second := tokenRequest(t, as, refreshForm(id, rt1))
	if status != 200 || second["refresh_token"] == rt1 {
		t.Fatalf("rotation: %d %v", status, second)
	}
	rt2 := second["refresh_token"].(string)
	status, body := tokenRequest(t, as, refreshForm(id, rt1))
	wantOAuthError(t, "reuse of the rotated token", status, body, 400, "invalid_grant")
	status, body = tokenRequest(t, as, refreshForm(id, rt2))
	wantOAuthError(t, "newest token after reuse", status, body, 400, "invalid_grant")
	rs := resourceServer(t, as)
	if got := introspect(t, as, rs, second["access_token"].(string)); got["active"] != false {
		t.Fatalf("access token of the family after reuse: %v", got)
	}
	if !strings.Contains(strings.Join(as.Audit.events(), ","), "refresh.reuse") {
		t.Fatalf("no refresh.reuse audit event in %v", as.Audit.events())
	}
	for _, secret := range []string{rt1, rt2, first["access_token"].(string), second["access_token"].(string)} {
		if strings.Contains(as.Audit.text(), secret) {
			t.Fatal("a token reached the log")
		}
	}
}

// TestRefreshStaysWithinGrant: a refresh may narrow scope and resource, never widen them.
func TestRefreshStaysWithinGrant(t *testing.T) {
	as := devAS(t, func(c *authserver.Config) {
		c.Resources = append(c.Resources, authserver.Resource{URI: resourceB, Scopes: []string{"b:read"}})
	})
	id := publicClient(t, as)
	tok := tokens(t, as, id) // resource A, scope weather:read
	rt := tok["refresh_token"].(string)

	form := refreshForm(id, rt)
	form.Set("scope", "weather:read stocks:read")
	status, body := tokenRequest(t, as, form)
	wantOAuthError(t, "wider scope", status, body, 400, "invalid_scope")

	form = refreshForm(id, rt)
	form.Set("resource", resourceB)
	status, body = tokenRequest(t, as, form)
	wantOAuthError(t, "other resource", status, body, 400, "invalid_target")

	form = refreshForm(id, rt)
	form.Set("resource", resourceA)
	status, body = tokenRequest(t, as, form)
	if status != 200 {
		t.Fatalf("refresh within the grant (the refused attempts must not spend the token): %d %v", status, body)
	}
}

func TestRefreshByAnotherClientRefused(t *testing.T) {
	as := devAS(t, nil)
	id, other := publicClient(t, as), publicClient(t, as)
	tok := tokens(t, as, id)
	status, body := tokenRequest(t, as, refreshForm(other, tok["refresh_token"].(string)))
	wantOAuthError(t, "refresh by another client", status, body, 400, "invalid_grant")
}

func TestClientCredentials(t *testing.T) {
	as := newTestAS(t, nil)
	ctx := t.Context()
	svc, secret, err := as.Admin().AddClient(ctx, authserver.StaticClient{
		Name: "backend", Confidential: true, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"stocks:read"}, QuotaTier: "gold",
	})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resourceA}}
	status, tok := tokenRequest(t, as, form, svc.ID, secret)
	if status != 200 || tok["scope"] != "stocks:read" || tok["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", status, tok)
	}
	if info, err := as.Admin().GetClient(t.Context(), svc.ID); err != nil || info.LastUsedAt.IsZero() {
		t.Fatalf("last use not recorded: %+v %v", info, err)
	}
	claims, _ := verifyJWT(t, as, tok["access_token"].(string))
	if claims["sub"] != svc.ID || claims["aud"] != resourceA || claims["quota_tier"] != "gold" {
		t.Fatalf("claims %v", claims)
	}
	// client_secret_post works too; a wrong secret, a scope beyond the client's and another
	// resource do not.
	form2 := url.Values{"grant_type": {"client_credentials"}, "client_id": {svc.ID}, "client_secret": {secret}}
	if status, body := tokenRequest(t, as, form2); status != 200 {
		t.Fatalf("client_secret_post: %d %v", status, body)
	}
	status, body := tokenRequest(t, as, form, svc.ID, secret+"x")
	wantOAuthError(t, "wrong secret", status, body, 401, "invalid_client")
	form.Set("scope", "weather:read")
	status, body = tokenRequest(t, as, form, svc.ID, secret)
	wantOAuthError(t, "scope beyond the client's", status, body, 400, "invalid_scope")
	form.Del("scope")
	form.Set("resource", resourceB)
	status, body = tokenRequest(t, as, form, svc.ID, secret)
	wantOAuthError(t, "unknown resource", status, body, 400, "invalid_target")

	// A public client cannot use client_credentials.
	pub := publicClient(t, as)
	status, body = tokenRequest(t, as, url.Values{"grant_type": {"client_credentials"}, "client_id": {pub}})
	wantOAuthError(t, "public client", status, body, 400, "unauthorized_client")
}

func TestTokenRequestErrors(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	for name, tc := range map[string]struct {
		form   url.Values
		status int
		code   string
	}{
		"no grant type":      {url.Values{"client_id": {id}}, 400, "invalid_request"},
		"unknown grant type": {url.Values{"client_id": {id}, "grant_type": {"password"}}, 400, "unsupported_grant_type"},
		"unknown client":     {url.Values{"client_id": {"nope"}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, "invalid_client"},
		"bad code":           {codeForm(id, "nope", strings.Repeat("a", 43)), 400, "invalid_grant"},
		"duplicate code":     {url.Values{"client_id": {id}, "grant_type": {"authorization_code"}, "code": {"a", "b"}}, 400, "invalid_request"},
		"secret from public": {url.Values{"client_id": {id}, "client_secret": {"x"}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, "invalid_client"},
	} {
		status, body := tokenRequest(t, as, tc.form)
		wantOAuthError(t, name, status, body, tc.status, tc.code)
	}
	req, _ := http.NewRequest(http.MethodPost, as.URL+"/token", strings.NewReader(`{"grant_type":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := do(t, http.DefaultClient, req); resp.StatusCode != 400 {
		t.Fatalf("JSON body: %d", resp.StatusCode)
	}
	// The form's media type with parameters or in other case is the form; other types are not.
	body := url.Values{"grant_type": {"password"}, "client_id": {id}}.Encode()
	for contentType, want := range map[string]string{
		"application/x-www-form-urlencoded; charset=UTF-8": "unsupported_grant_type",
		"Application/X-WWW-Form-URLEncoded":                "unsupported_grant_type",
		"application/x-www-form-urlencoded;":               "unsupported_grant_type",
		"":                                                 "invalid_request",
		"text/plain":                                       "invalid_request",
		"application/x-www-form-urlencoded-not":            "invalid_request",
		"application/x-www-form-urlencoded; =":             "invalid_request",
	} {
		req, _ := http.NewRequest(http.MethodPost, as.URL+"/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		var e struct{ Error string }
		if resp, b := do(t, http.DefaultClient, req); json.Unmarshal(b, &e) != nil || e.Error != want {
			t.Errorf("Content-Type %q: %d %s, want %s", contentType, resp.StatusCode, b, want)
		}
	}
}

func TestExpiredCodeRefused(t *testing.T) {
	clock := newClock()
	as := devAS(t, func(c *authserver.Config) { c.Now = clock.now })
	id := publicClient(t, as)
	verifier, challenge := pkce()
	code := devCode(t, as, codeParams(id, challenge))
	clock.advance(61 * time.Second)
	status, body := tokenRequest(t, as, codeForm(id, code, verifier))
	wantOAuthError(t, "expired code", status, body, 400, "invalid_grant")
}

// TestRefreshFollowsCurrentPermissions: a refresh grants no more than the user may grant now.
func TestRefreshFollowsCurrentPermissions(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	verifier, challenge := pkce()
	p := codeParams(id, challenge)
	p.Set("scope", "weather:read stocks:read")
	status, tok := tokenRequest(t, as, codeForm(id, devCode(t, as, p), verifier))
	if status != 200 || tok["scope"] != "weather:read stocks:read" {
		t.Fatalf("token: %d %v", status, tok)
	}
	if err := as.Admin().SetUserScopes(t.Context(), "dev", []string{"weather:read"}); err != nil {
		t.Fatal(err)
	}
	status, next := tokenRequest(t, as, refreshForm(id, tok["refresh_token"].(string)))
	if status != 200 || next["scope"] != "weather:read" {
		t.Fatalf("refresh after the user lost stocks:read: %d %v", status, next)
	}
}
