package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestDynamicRegistrationRequest(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	s := mustConnect(t, testContext(t), testConfig(rs, &headlessBrowser{}))
	s.Close()
	if len(as.regs) != 1 {
		t.Fatalf("registrations = %d", len(as.regs))
	}
	m := as.regs[0]
	uris, _ := m["redirect_uris"].([]any)
	if len(uris) != 1 || !strings.HasPrefix(uris[0].(string), "http://127.0.0.1:") || !strings.HasSuffix(uris[0].(string), "/callback") {
		t.Errorf("redirect_uris = %v", m["redirect_uris"])
	}
	for field, want := range map[string]any{
		"client_name": "test client", "application_type": "native", "token_endpoint_auth_method": "none",
		"grant_types": []any{"authorization_code", "refresh_token"}, "response_types": []any{"code"},
	} {
		if got := m[field]; !equalJSON(got, want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
}

func equalJSON(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

func TestDCRAuthMethodChoice(t *testing.T) {
	for _, tc := range []struct {
		supported []string
		want      string
	}{
		{nil, AuthNone},
		{[]string{"client_secret_basic", "none"}, AuthNone},
		{[]string{"client_secret_post", "client_secret_basic"}, AuthClientSecretBasic},
		{[]string{"client_secret_post"}, AuthClientSecretPost},
		{[]string{"tls_client_auth"}, AuthNone},
	} {
		if got := dcrAuthMethod(tc.supported); got != tc.want {
			t.Errorf("dcrAuthMethod(%v) = %q, want %q", tc.supported, got, tc.want)
		}
	}
}

func TestRegistrationErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantCode   string
		wantStatus int
	}{
		{"rfc7591 error", 400, `{"error":"invalid_redirect_uri","error_description":"loopback not allowed"}`, "invalid_redirect_uri", 400},
		{"not json", 500, `<html>oops</html>`, "", 500},
		{"no client_id", 201, `{"client_secret":"x"}`, "invalid_response", 201},
		{"wrong types", 201, `{"client_id":42}`, "invalid_response", 201},
		{"bad expiry type", 201, `{"client_id":"a","client_secret_expires_at":"soon"}`, "invalid_response", 201},
		{"huge", 201, `{"client_id":"` + strings.Repeat("a", maxMetadataBytes) + `"}`, "invalid_response", 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRegistration(tc.status, strings.NewReader(tc.body))
			var re *RegistrationError
			if !errors.As(err, &re) || re.Code != tc.wantCode || re.StatusCode != tc.wantStatus {
				t.Fatalf("error = %#v, want code %q status %d", err, tc.wantCode, tc.wantStatus)
			}
			if strings.Contains(re.Error(), "\n") || len(re.Error()) > 400 {
				t.Errorf("error text not sanitized: %q", re.Error())
			}
		})
	}
	reg, err := decodeRegistration(201, strings.NewReader(`{"client_id":"a","client_secret":"s","client_secret_expires_at":1900000000,"token_endpoint_auth_method":"client_secret_post"}`))
	if err != nil || reg.ClientID != "a" || reg.SecretExpiresAt.Unix() != 1900000000 || reg.AuthMethod != AuthClientSecretPost || !reg.Dynamic {
		t.Fatalf("decodeRegistration = %+v, %v", reg, err)
	}
}

func TestRegistrationRejectedByServer(t *testing.T) {
	as := newTestAS(t)
	as.regError = &oauthErrorBody{Code: "invalid_client_metadata", Description: "no native apps"}
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	_, err := Connect(testContext(t), testConfig(rs, b))
	var re *RegistrationError
	if !errors.As(err, &re) || re.Code != "invalid_client_metadata" || re.Description != "no native apps" {
		t.Fatalf("Connect error = %v, want a RegistrationError", err)
	}
	if b.count() != 0 {
		t.Errorf("authorization attempted after a failed registration")
	}
}

func TestNoRegistrationPossible(t *testing.T) {
	as := newTestAS(t)
	as.meta["registration_endpoint"] = nil
	rs := newTestRS(t, as)
	_, err := Connect(testContext(t), testConfig(rs, &headlessBrowser{}))
	var nr *NoRegistrationError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "--client-id") {
		t.Fatalf("Connect error = %v, want a NoRegistrationError telling how to pass a client ID", err)
	}
}

func TestClientIDMetadataDocument(t *testing.T) {
	const cimd = "https://client.example/mcpauth.json"
	for _, supported := range []bool{true, false} {
		as := newTestAS(t)
		if supported {
			as.meta["client_id_metadata_document_supported"] = true
		}
		rs := newTestRS(t, as)
		cfg := testConfig(rs, &headlessBrowser{})
		cfg.ClientMetadataURL = cimd
		s := mustConnect(t, testContext(t), cfg)
		s.Close()
		clientID := as.authReqs[0].Get("client_id")
		if supported && (clientID != cimd || as.count("register") != 0) {
			t.Errorf("CIMD supported: client_id %q, %d registrations", clientID, as.count("register"))
		}
		if !supported && (clientID == cimd || as.count("register") != 1) {
			t.Errorf("CIMD unsupported: client_id %q, %d registrations; want DCR", clientID, as.count("register"))
		}
	}
	if _, err := New(Config{ServerURL: "https://a.example/mcp", ClientMetadataURL: "http://client.example/x"}); err == nil {
		t.Error("an http client metadata URL was accepted")
	}
}

func TestPreRegisteredClientPreferred(t *testing.T) {
	as := newTestAS(t)
	as.meta["client_id_metadata_document_supported"] = true
	as.clients["pre-1"] = testASClient{secret: "s3cret"}
	rs := newTestRS(t, as)
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.ClientID, cfg.ClientSecret = "pre-1", "s3cret"
	cfg.ClientMetadataURL = "https://client.example/mcpauth.json"
	s := mustConnect(t, testContext(t), cfg)
	s.Close()
	if as.count("register") != 0 || as.authReqs[0].Get("client_id") != "pre-1" {
		t.Fatalf("pre-registered client not used")
	}
}

// TestReregisterOnInvalidClient: an authorization server that forgot the client answers
// invalid_client; the client registers again, once.
func TestReregisterOnInvalidClient(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	cfg := testConfig(rs, b)
	s := mustConnect(t, ctx, cfg)
	s.Close()
	as.mu.Lock()
	clear(as.clients)
	clear(as.tokens)
	as.mu.Unlock()
	s = mustConnect(t, ctx, cfg)
	callEcho(t, ctx, s, "x")
	s.Close()
	if as.count("register") != 2 {
		t.Fatalf("registrations = %d, want 2", as.count("register"))
	}
	e, _ := cfg.Store.List(ctx, rs.url)
	if e[0].Registration.ClientID != "client-1" && e[0].Registration.ClientID != "client-2" {
		t.Fatalf("stored registration %q", e[0].Registration.ClientID)
	}
}

// TestReregisterOnExpiredSecret: a dynamic registration whose secret expired is replaced
// before it is used.
func TestReregisterOnExpiredSecret(t *testing.T) {
	as := newTestAS(t)
	as.meta["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"}
	as.secretTTL = time.Hour
	as.noRefresh = true
	rs := newTestRS(t, as)
	var clk clock
	ctx := testContext(t)
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.Now = clk.now
	s := mustConnect(t, ctx, cfg)
	s.Close()
	clk.advance(2 * time.Hour)
	as.mu.Lock()
	clear(as.tokens)
	as.mu.Unlock()
	s = mustConnect(t, ctx, cfg)
	s.Close()
	if as.count("register") != 2 {
		t.Fatalf("registrations = %d, want 2", as.count("register"))
	}
}

// TestTokenEndpointAuthentication checks the three secret-less and secret methods of a
// pre-registered client, with an ID and secret that need form-encoding for basic.
func TestTokenEndpointAuthentication(t *testing.T) {
	const id, secret = "pre-ü:1", "s p+cret/é"
	for _, method := range []string{AuthClientSecretBasic, AuthClientSecretPost, AuthNone} {
		t.Run(method, func(t *testing.T) {
			as := newTestAS(t)
			c := testASClient{}
			if method != AuthNone {
				c.secret = secret
			}
			as.clients[id] = c
			rs := newTestRS(t, as)
			cfg := testConfig(rs, &headlessBrowser{})
			cfg.ClientID = id
			if method != AuthNone {
				cfg.ClientSecret = secret
			}
			cfg.TokenEndpointAuthMethod = method
			s := mustConnect(t, testContext(t), cfg)
			s.Close()
			f, h := as.forms[0], as.headers[0]
			switch method {
			case AuthClientSecretBasic:
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
				if h.Get("Authorization") != want || f.Has("client_secret") {
					t.Errorf("basic: Authorization %q, form %v", h.Get("Authorization"), f)
				}
			case AuthClientSecretPost:
				if f.Get("client_id") != id || f.Get("client_secret") != secret || h.Get("Authorization") != "" {
					t.Errorf("post: form %v", f)
				}
			case AuthNone:
				if f.Get("client_id") != id || f.Has("client_secret") || h.Get("Authorization") != "" {
					t.Errorf("none: form %v", f)
				}
			}
		})
	}
}

func TestPreRegisteredAuthMethodFromMetadata(t *testing.T) {
	c, _ := New(Config{ServerURL: "https://a.example/mcp", ClientID: "x", ClientSecret: "y", Store: NewMemoryStore()})
	for _, tc := range []struct {
		supported []string
		want      string
	}{
		{nil, AuthClientSecretBasic},
		{[]string{"client_secret_post"}, AuthClientSecretPost},
		{[]string{"client_secret_post", "client_secret_basic"}, AuthClientSecretBasic},
	} {
		as := defaultEndpoints("https://a.example")
		as.TokenEndpointAuthMethodsSupported = tc.supported
		if got := c.preRegisteredAuthMethod(as); got != tc.want {
			t.Errorf("supported %v: %q, want %q", tc.supported, got, tc.want)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	as := newTestAS(t)
	as.clients["pre-svc"] = testASClient{secret: "svc-secret"}
	rs := newTestRS(t, as)
	rs.challengeScope = "mcp:read"
	b := &headlessBrowser{}
	cfg := testConfig(rs, b)
	cfg.GrantType = ClientCredentials
	cfg.ClientID, cfg.ClientSecret = "pre-svc", "svc-secret"
	ctx := testContext(t)
	s := mustConnect(t, ctx, cfg)
	callEcho(t, ctx, s, "machine")
	s.Close()
	forms := as.tokenForms("client_credentials")
	if len(forms) != 1 || forms[0].Get("resource") != rs.url || forms[0].Get("scope") != "mcp:read" {
		t.Fatalf("client credentials requests: %v", forms)
	}
	if b.count() != 0 {
		t.Error("the browser was opened for client credentials")
	}
	if _, err := New(Config{ServerURL: rs.url, GrantType: ClientCredentials}); err == nil {
		t.Error("client credentials without a client ID was accepted")
	}
}

func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	signer, err := ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	as := newTestAS(t)
	rs := newTestRS(t, as)
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.GrantType = ClientCredentials
	cfg.ClientID = "pre-jwt"
	cfg.PrivateKey = signer
	cfg.PrivateKeyAlg = "ES256"
	ctx := testContext(t)
	s := mustConnect(t, ctx, cfg)
	s.Close()
	f := as.tokenForms("client_credentials")[0]
	if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Fatalf("client_assertion_type = %q", f.Get("client_assertion_type"))
	}
	tok, err := jwt.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.Claims
	if err := tok.Claims(&key.PublicKey, &claims); err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: "pre-jwt", Subject: "pre-jwt", AnyAudience: jwt.Audience{as.issuer}, Time: time.Now()}); err != nil || claims.ID == "" {
		t.Fatalf("assertion claims %+v: %v", claims, err)
	}
}

// TestBearerOnlyToServerOrigin: the token never goes to another origin, e.g. after a redirect.
func TestBearerOnlyToServerOrigin(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	ctx := testContext(t)
	c, _ := New(testConfig(rs, &headlessBrowser{}))
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	var got string
	other := newCapture(t, func(r *http.Request) { got = r.Header.Get("Authorization") })
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, other, nil)
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "" {
		t.Fatalf("Authorization %q sent to another origin", got)
	}
}

// TestConfiguredIssuerPinsCredentials: with Config.Issuer, a server naming another
// authorization server never gets the pre-registered secret.
func TestConfiguredIssuerPinsCredentials(t *testing.T) {
	as := newTestAS(t)
	as.clients["pre-1"] = testASClient{secret: "s3cret"}
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	cfg := testConfig(rs, b)
	cfg.ClientID, cfg.ClientSecret = "pre-1", "s3cret"
	cfg.Issuer = "https://the-real-as.example"
	_, err := Connect(testContext(t), cfg)
	var im *IssuerMismatchError
	if !errors.As(err, &im) || im.Expected != cfg.Issuer {
		t.Fatalf("Connect error = %v, want IssuerMismatchError", err)
	}
	if as.count("token") != 0 || as.count("metadata") != 0 || b.count() != 0 {
		t.Fatal("credentials were used with an issuer other than the configured one")
	}
	cfg.Issuer = as.issuer
	s := mustConnect(t, testContext(t), cfg)
	s.Close()
	// Stored credentials of another issuer are not used either.
	cfg.Issuer = "https://the-real-as.example"
	if _, err := Connect(testContext(t), cfg); !errors.As(err, &im) {
		t.Fatalf("Connect with stored credentials of another issuer: %v, want IssuerMismatchError", err)
	}
}

// TestStoredMetadataDocumentClientReused: after a login with a Client ID Metadata Document, a
// client configured without its URL (mcpauth call without --client-metadata-url) uses the
// stored document client and its token instead of registering by DCR; once the token is
// gone it authorizes again as that client, still without registering.
func TestStoredMetadataDocumentClientReused(t *testing.T) {
	const cimd = "https://client.example/mcpauth.json"
	as := newTestAS(t)
	as.meta["client_id_metadata_document_supported"] = true
	rs := newTestRS(t, as)
	store := NewMemoryStore()
	b := &headlessBrowser{}
	cfg := testConfig(rs, b)
	cfg.Store, cfg.ClientMetadataURL = store, cimd
	ctx := testContext(t)
	mustConnect(t, ctx, cfg).Close()

	cfg.ClientMetadataURL = ""
	s := mustConnect(t, ctx, cfg)
	callEcho(t, ctx, s, "again")
	s.Close()
	if as.count("register") != 0 || b.count() != 1 {
		t.Fatalf("registrations %d, authorizations %d; want 0 and 1", as.count("register"), b.count())
	}

	entries, err := store.List(ctx, rs.url)
	if err != nil || len(entries) != 1 {
		t.Fatalf("stored entries %v, %v", entries, err)
	}
	e := entries[0]
	if !e.Registration.MetadataDocument {
		t.Fatalf("stored registration %+v is not marked as a metadata document client", e.Registration)
	}
	// A registration stored before the MetadataDocument field, and no token: authorize again
	// with the same document client.
	e.Registration.MetadataDocument, e.Token = false, nil
	if err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, ctx, cfg).Close()
	if as.count("register") != 0 || b.count() != 2 || as.authReqs[1].Get("client_id") != cimd {
		t.Fatalf("after the token was lost: registrations %d, authorizations %d, client_id %q", as.count("register"), b.count(), as.authReqs[1].Get("client_id"))
	}
}
