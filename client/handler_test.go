package client

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestOAuthHandlerWithGoSDKTransport drives our auth.OAuthHandler from go-sdk's own
// transport: it authorizes once, and TokenSource hands out one shared, cached source (go-sdk
// gap: a new source per request).
func TestOAuthHandlerWithGoSDKTransport(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	c, _ := New(testConfig(rs, b))
	h := c.OAuthHandler()
	if ts, err := h.TokenSource(ctx); ts != nil || err != nil {
		t.Fatalf("TokenSource before authorization = %v, %v; want nil, nil", ts, err)
	}
	mc := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	s, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: rs.url, OAuthHandler: h, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s.Close()
	callEcho(t, ctx, s, "handler")
	ts1, _ := h.TokenSource(ctx)
	ts2, _ := h.TokenSource(ctx)
	if ts1 == nil || ts1 != ts2 {
		t.Fatalf("TokenSource returned %v then %v; want one shared source", ts1, ts2)
	}
	tok, err := ts1.Token()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("Token: %v", err)
	}
	if b.count() != 1 || as.count("token") != 1 {
		t.Fatalf("authorizations %d, token requests %d; want 1 each", b.count(), as.count("token"))
	}
}

// TestOAuthHandlerDeniedOnce: through go-sdk's transport too, a refusal is asked once,
// although Connect sends two requests (server/discover, then initialize).
func TestOAuthHandlerDeniedOnce(t *testing.T) {
	as := newTestAS(t)
	as.authError = "access_denied"
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	c, _ := New(testConfig(rs, b))
	mc := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	_, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: rs.url, OAuthHandler: c.OAuthHandler()}, nil)
	var denied *UserDeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("Connect error = %v, want UserDeniedError", err)
	}
	if b.count() != 1 {
		t.Fatalf("the user was asked %d times, want 1", b.count())
	}
	if _, err := c.TokenSource().Token(); !errors.Is(err, ErrNoToken) {
		t.Fatalf("TokenSource().Token() = %v, want ErrNoToken", err)
	}
}

// TestTokenSourceOutlivesAuthorizeContext: the client credentials token source keeps working
// after the context of the call that first authorized ends (go-sdk gap: extauth's dies with
// it), and renews the token with the resource parameter.
func TestTokenSourceOutlivesAuthorizeContext(t *testing.T) {
	as := newTestAS(t)
	as.clients["pre-svc"] = testASClient{secret: "svc-secret"}
	rs := newTestRS(t, as)
	var clk clock
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.GrantType = ClientCredentials
	cfg.ClientID, cfg.ClientSecret = "pre-svc", "svc-secret"
	cfg.Now = clk.now
	c, _ := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	first, err := c.Token(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Hour)
	second, err := c.TokenSource().Token()
	if err != nil || second.AccessToken == first.AccessToken {
		t.Fatalf("Token after the first context ended: %v (same token: %v)", err, second != nil && second.AccessToken == first.AccessToken)
	}
	forms := as.tokenForms("client_credentials")
	if len(forms) != 2 || forms[1].Get("resource") != rs.url {
		t.Fatalf("client credentials requests: %v", forms)
	}
}

// TestDeviceGrantDispatch: GrantType DeviceCode runs the grant device.go installs, under the
// client lock, with the discovered metadata and the selected scopes; without one, New refuses.
func TestDeviceGrantDispatch(t *testing.T) {
	saved := deviceGrant
	t.Cleanup(func() { deviceGrant = saved })
	deviceGrant = nil
	if _, err := New(Config{ServerURL: "https://a.example/mcp", GrantType: DeviceCode, Store: NewMemoryStore()}); err == nil {
		t.Fatal("DeviceCode accepted without a device grant")
	}
	as := newTestAS(t)
	as.clients["pre-dev"] = testASClient{}
	rs := newTestRS(t, as)
	rs.challengeScope = "mcp:read"
	var gotScopes []string
	// A stand-in for device.go's grant: it obtains a token the way the real one ends, with a
	// token request for the current registration.
	deviceGrant = func(ctx context.Context, c *Client, scopes []string) error {
		gotScopes = scopes
		if _, err := c.registrationLocked(ctx, ""); err != nil {
			return err
		}
		return c.tokenRequestLocked(ctx, url.Values{"grant_type": {"client_credentials"}}, scopes)
	}
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.GrantType, cfg.ClientID = DeviceCode, "pre-dev"
	s := mustConnect(t, testContext(t), cfg)
	s.Close()
	if len(gotScopes) != 1 || gotScopes[0] != "mcp:read" {
		t.Fatalf("device grant called with scopes %v", gotScopes)
	}

	// Self-registration for the device grant asks for it, without redirect URIs.
	cfg = testConfig(rs, &headlessBrowser{})
	cfg.GrantType = DeviceCode
	s = mustConnect(t, testContext(t), cfg)
	s.Close()
	reg := as.regs[0]
	if !equalJSON(reg["grant_types"], []any{string(DeviceCode), "refresh_token"}) || !equalJSON(reg["redirect_uris"], []any{}) || reg["response_types"] != nil {
		t.Fatalf("device registration %v", reg)
	}
}
