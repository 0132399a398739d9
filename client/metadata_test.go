package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serveDoc serves body, with ISSUER replaced by the server's origin, at every path.
func serveDoc(t *testing.T, status int, contentType, body string) string {
	return serveDocFunc(t, status, contentType, func(host string) string {
		return strings.ReplaceAll(body, "ISSUER", "http://"+host)
	})
}

func TestProtectedResourceMetadataBadInput(t *testing.T) {
	huge := `{"resource":"RES","authorization_servers":["https://as.example"],"x":"` + strings.Repeat("a", maxMetadataBytes) + `"}`
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    any
	}{
		{"wrong type for authorization_servers", "application/json", `{"resource":"RES","authorization_servers":"https://as.example"}`, 200, new(*MetadataError)},
		{"wrong type for resource", "application/json", `{"resource":1,"authorization_servers":["https://as.example"]}`, 200, new(*MetadataError)},
		{"not json", "application/json", `<html>`, 200, new(*MetadataError)},
		{"empty authorization_servers", "application/json", `{"resource":"RES","authorization_servers":[]}`, 200, new(*MetadataError)},
		{"no resource", "application/json", `{"authorization_servers":["https://as.example"]}`, 200, new(*MetadataError)},
		{"insecure authorization server", "application/json", `{"resource":"RES","authorization_servers":["http://as.example"]}`, 200, new(*MetadataError)},
		{"huge body", "application/json", huge, 200, new(*MetadataError)},
		{"wrong content type", "text/html", `{"resource":"RES","authorization_servers":["https://as.example"]}`, 200, new(*MetadataError)},
		{"other resource", "application/json", `{"resource":"https://evil.example/mcp","authorization_servers":["https://as.example"]}`, 200, new(*ResourceMismatchError)},
		{"server error", "application/json", `{}`, 500, new(*MetadataError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveDocFunc(t, tc.status, tc.contentType, func(host string) string {
				return strings.ReplaceAll(tc.body, "RES", "http://"+host+"/mcp")
			})
			c, _ := New(Config{ServerURL: base + "/mcp", Store: NewMemoryStore()})
			_, _, err := c.fetchResourceMetadata(context.Background(), "")
			if err == nil || !errors.As(err, tc.want) {
				t.Fatalf("error = %v, want %T", err, tc.want)
			}
		})
	}
}

// serveDocFunc serves the body made for the request's host at every path.
func serveDocFunc(t *testing.T, status int, contentType string, body func(host string) string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write([]byte(body(r.Host)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAuthServerMetadataBadInput(t *testing.T) {
	const good = `"authorization_endpoint":"ISSUER/authorize","token_endpoint":"ISSUER/token","code_challenge_methods_supported":["S256"]`
	for _, tc := range []struct {
		name, contentType, body string
		want                    any
	}{
		{"issuer mismatch", "application/json", `{"issuer":"https://evil.example",` + good + `}`, new(*IssuerMismatchError)},
		{"issuer with trailing slash", "application/json", `{"issuer":"ISSUER/",` + good + `}`, new(*IssuerMismatchError)},
		{"wrong type", "application/json", `{"issuer":"ISSUER",` + good + `,"scopes_supported":"a b"}`, new(*MetadataError)},
		{"wrong type for a flag", "application/json", `{"issuer":"ISSUER",` + good + `,"client_id_metadata_document_supported":"yes"}`, new(*MetadataError)},
		{"no token endpoint", "application/json", `{"issuer":"ISSUER","authorization_endpoint":"ISSUER/a"}`, new(*MetadataError)},
		{"insecure endpoint", "application/json", `{"issuer":"ISSUER","authorization_endpoint":"http://evil.example/a","token_endpoint":"ISSUER/t"}`, new(*MetadataError)},
		{"javascript endpoint", "application/json", `{"issuer":"ISSUER","authorization_endpoint":"javascript:alert(1)","token_endpoint":"ISSUER/t"}`, new(*MetadataError)},
		{"wrong content type", "text/plain", `{"issuer":"ISSUER",` + good + `}`, new(*MetadataError)},
		{"truncated", "application/json", `{"issuer":"ISSUER",`, new(*MetadataError)},
		{"huge", "application/json", `{"issuer":"ISSUER",` + good + `,"x":"` + strings.Repeat("b", maxMetadataBytes) + `"}`, new(*MetadataError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveDoc(t, 200, tc.contentType, tc.body)
			c, _ := New(Config{ServerURL: base + "/mcp", Store: NewMemoryStore()})
			_, err := c.fetchAuthServerMetadata(context.Background(), base, false)
			if err == nil || !errors.As(err, tc.want) {
				t.Fatalf("error = %v, want %T", err, tc.want)
			}
		})
	}
	base := serveDoc(t, 200, "application/json; charset=utf-8", `{"issuer":"ISSUER",`+good+`}`)
	c, _ := New(Config{ServerURL: base + "/mcp", Store: NewMemoryStore()})
	if _, err := c.fetchAuthServerMetadata(context.Background(), base, false); err != nil {
		t.Fatalf("valid metadata refused: %v", err)
	}
}

func TestTokenResponseBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"oauth error", 400, `{"error":"invalid_grant","error_description":"expired"}`, "invalid_grant"},
		{"html error", 502, `<html>bad gateway</html>`, ""},
		{"no access token", 200, `{"token_type":"Bearer"}`, "invalid_response"},
		{"not bearer", 200, `{"access_token":"a","token_type":"DPoP"}`, "invalid_response"},
		{"wrong type", 200, `{"access_token":"a","token_type":"Bearer","expires_in":"soon"}`, "invalid_response"},
		{"not json", 200, `access_token=a&token_type=bearer`, "invalid_response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveDoc(t, tc.status, "application/json", tc.body)
			c, _ := New(Config{ServerURL: base + "/mcp", Store: NewMemoryStore()})
			e := &Entry{Key: Key{Resource: base + "/mcp", Issuer: base}, TokenEndpoint: base + "/token", Registration: &Registration{ClientID: "c"}}
			_, err := c.postToken(context.Background(), e, map[string][]string{"grant_type": {"refresh_token"}})
			var te *TokenError
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Fatalf("error = %v, want TokenError %q", err, tc.code)
			}
		})
	}
}

func FuzzDecodeResourceMetadata(f *testing.F) {
	f.Add([]byte(`{"resource":"https://a.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["x"]}`))
	f.Add([]byte(`{"resource":1}`))
	f.Add([]byte(`{"authorization_servers":[null,"http://x"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		prm, err := decodeResourceMetadata(endpointRule{}, b)
		if err == nil && (prm.Resource == "" || len(prm.AuthorizationServers) == 0) {
			t.Fatalf("accepted invalid metadata %+v", prm)
		}
	})
}

func FuzzDecodeAuthServerMetadata(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://as.example","authorization_endpoint":"https://as.example/a","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"]}`))
	f.Add([]byte(`{"issuer":"https://as.example","token_endpoint":"javascript:x"}`))
	f.Add([]byte(`{"issuer":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := decodeAuthServerMetadata(endpointRule{}, b, "https://as.example", "https://as.example/.well-known/oauth-authorization-server", false)
		if err == nil && (as.Issuer != "https://as.example" || as.TokenEndpoint == "") {
			t.Fatalf("accepted invalid metadata %+v", as)
		}
	})
}

func TestExpiresIn(t *testing.T) {
	for body, want := range map[string]time.Duration{
		`{"access_token":"a","token_type":"bearer","expires_in":3600}`:              time.Hour,
		`{"access_token":"a","token_type":"bearer","expires_in":"60"}`:              time.Minute,
		`{"access_token":"a","token_type":"bearer"}`:                                0,
		`{"access_token":"a","token_type":"bearer","expires_in":99999999999999999}`: 0,
		`{"access_token":"a","token_type":"bearer","expires_in":-5}`:                0,
	} {
		base := serveDoc(t, 200, "application/json", body)
		now := time.Now()
		c, _ := New(Config{ServerURL: base + "/mcp", Store: NewMemoryStore(), Now: func() time.Time { return now }})
		c.state.entry = &Entry{Key: Key{Resource: base + "/mcp", Issuer: base}, TokenEndpoint: base + "/token", Registration: &Registration{ClientID: "c"}}
		if err := c.tokenRequestLocked(context.Background(), map[string][]string{"grant_type": {"client_credentials"}}, nil); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		exp := c.state.entry.Token.Expiry
		if want == 0 && !exp.IsZero() || want != 0 && !exp.Equal(now.Add(want)) {
			t.Errorf("%s: expiry %v, want now+%v", body, exp, want)
		}
	}
}

// TestTokenRequestNotRedirected: a token endpoint answering with a redirect does not get the
// request (code, secret) forwarded.
func TestTokenRequestNotRedirected(t *testing.T) {
	var forwarded bool
	elsewhere := newCapture(t, func(*http.Request) { forwarded = true })
	ep := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+"/token", http.StatusTemporaryRedirect)
	}))
	c, _ := New(Config{ServerURL: ep + "/mcp", Store: NewMemoryStore()})
	e := &Entry{Key: Key{Resource: ep + "/mcp", Issuer: ep}, TokenEndpoint: ep + "/token", Registration: &Registration{ClientID: "c", ClientSecret: "s", AuthMethod: AuthClientSecretPost}}
	_, err := c.postToken(context.Background(), e, map[string][]string{"grant_type": {"authorization_code"}, "code": {"abc"}})
	var te *TokenError
	if !errors.As(err, &te) || te.StatusCode != http.StatusTemporaryRedirect || forwarded {
		t.Fatalf("error %v, forwarded %v; want a TokenError for the 307 and nothing forwarded", err, forwarded)
	}
}

// TestTokenErrorRedactsEcho: a server echoing the refused code or secret in its error
// description does not put it in our error message.
func TestTokenErrorRedactsEcho(t *testing.T) {
	ep := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, 400, oauthErrorBody{Code: "invalid_grant", Description: "bad code " + r.PostForm.Get("code") + " for secret " + r.PostForm.Get("client_secret")})
	}))
	c, _ := New(Config{ServerURL: ep + "/mcp", Store: NewMemoryStore()})
	e := &Entry{Key: Key{Resource: ep + "/mcp", Issuer: ep}, TokenEndpoint: ep + "/token", Registration: &Registration{ClientID: "c", ClientSecret: "hunter2-secret", AuthMethod: AuthClientSecretPost}}
	_, err := c.postToken(context.Background(), e, map[string][]string{"grant_type": {"authorization_code"}, "code": {"the-code-123"}})
	if err == nil || strings.Contains(err.Error(), "the-code-123") || strings.Contains(err.Error(), "hunter2-secret") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %v", err)
	}
}
