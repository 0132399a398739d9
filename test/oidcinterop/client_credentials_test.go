package oidcinterop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/client"
)

// TestClientCredentials: a backend acting on its own behalf gets a token by
// the client_credentials grant (RFC 6749 §4.4), with resource, from a client
// pre-registered at the provider, authenticating with client_secret_basic or
// private_key_jwt (RFC 7523, checked by the provider: signature, iss, sub,
// aud, exp, jti).
func TestClientCredentials(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "backend-key-1", Algorithm: string(jose.ES256), Use: "sig"}
	secretBytes := make([]byte, 32)
	rand.Read(secretBytes)
	secret := hex.EncodeToString(secretBytes)
	backend := func(id, method string) map[string]any {
		return map[string]any{
			"client_id":                  id,
			"grant_types":                []string{"client_credentials"},
			"response_types":             []string{},
			"redirect_uris":              []string{},
			"token_endpoint_auth_method": method,
		}
	}
	basic := backend("backend-basic", "client_secret_basic")
	basic["client_secret"] = secret
	jwt := backend("backend-jwt", "private_key_jwt")
	jwt["jwks"] = map[string]any{"keys": []jose.JSONWebKey{pub}}
	e := newEnv(t, false, basic, jwt)

	tests := []struct {
		name string
		cfg  func(*client.Config)
	}{
		{"client_secret_basic", func(c *client.Config) { c.ClientID, c.ClientSecret = "backend-basic", secret }},
		{"private_key_jwt", func(c *client.Config) {
			c.ClientID, c.PrivateKey, c.PrivateKeyAlg, c.PrivateKeyID = "backend-jwt", key, "ES256", "backend-key-1"
		}},
	}
	var seen int
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := client.Config{
				ServerURL: e.mcp.url,
				GrantType: client.ClientCredentials,
				Store:     client.NewMemoryStore(),
				Stderr:    io.Discard,
				OpenBrowser: func(context.Context, string) error {
					t.Error("a client_credentials client opened the browser")
					return errors.New("no browser")
				},
			}
			tc.cfg(&cfg)
			s := connect(t, cfg)
			if got, want := whoami(t, s), "subject="+cfg.ClientID+" client="+cfg.ClientID; got != want {
				t.Errorf("whoami = %q, want %q", got, want)
			}
			ev := e.eventsSince(t, &seen)
			t.Logf("provider events %v", counts(ev))
			if len(ev) != 1 || ev[0].Event != "token" || ev[0].GrantType != "client_credentials" || ev[0].ClientID != cfg.ClientID {
				t.Fatalf("provider events %+v, want one client_credentials token request by %s", ev, cfg.ClientID)
			}
			if ev[0].Resource == nil || *ev[0].Resource != e.mcp.url {
				t.Errorf("client_credentials request: resource %q, want %s", deref(ev[0].Resource), e.mcp.url)
			}
		})
	}
}
