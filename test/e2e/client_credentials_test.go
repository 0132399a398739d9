package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/test/servetest"
)

// testClientCredentials: backends pre-registered with
// `mcpauth clients add` get tokens by the client_credentials grant from our
// authorization server, authenticating with client_secret_basic and with
// private_key_jwt, and call a tool: one token request each, the token bound
// to the MCP server.
func testClientCredentials(t *testing.T, bin string) {
	srv := servetest.Start(t, bin)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	basicID, secret := addClient(t, bin, srv, "--name", "backend basic", "--confidential", "--grant-types", "client_credentials")
	jwtID, _ := addClient(t, bin, srv, "--name", "backend jwt", "--jwks", jwksFile, "--grant-types", "client_credentials")

	tests := []struct {
		name string
		cfg  func(*client.Config)
	}{
		{"client_secret_basic", func(c *client.Config) { c.ClientID, c.ClientSecret = basicID, secret }},
		{"private_key_jwt", func(c *client.Config) {
			c.ClientID, c.PrivateKey, c.PrivateKeyAlg, c.PrivateKeyID = jwtID, key, "ES256", "k1"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqs := oauthRequests()
			cfg := client.Config{
				ServerURL:  srv.MCPURL,
				GrantType:  client.ClientCredentials,
				Store:      client.NewMemoryStore(),
				HTTPClient: &http.Client{Transport: reqs},
				Stderr:     io.Discard,
				OpenBrowser: func(context.Context, string) error {
					t.Error("a client_credentials client opened the browser")
					return errors.New("no browser")
				},
			}
			tc.cfg(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			mustCall(ctx, t, connect(ctx, t, cfg), "weather_forecast", map[string]any{"city": "Oslo"})
			want := map[string]int{
				"GET /.well-known/oauth-protected-resource/mcp": 1,
				"GET /.well-known/oauth-authorization-server":   1,
				"POST /token": 1,
			}
			if got := reqs.Take(); !maps.Equal(got, want) {
				t.Errorf("OAuth requests %v, want %v", got, want)
			}
			srv.Sync(t)
			var issued int
			for _, rec := range srv.Audit() {
				if rec["audit"] == "token.issued" && rec["client_id"] == cfg.ClientID {
					issued++
					if aud, _ := rec["aud"].([]any); len(aud) != 1 || aud[0] != srv.MCPURL {
						t.Errorf("token for %s issued with aud %v, want [%s]", cfg.ClientID, rec["aud"], srv.MCPURL)
					}
				}
			}
			if issued != 1 {
				t.Errorf("%d tokens issued to %s, want 1", issued, cfg.ClientID)
			}
		})
	}
}

var (
	clientIDLine     = regexp.MustCompile(`(?m)^client_id: (\S+)$`)
	clientSecretLine = regexp.MustCompile(`(?m)^client_secret: (\S+)$`)
)

// addClient pre-registers a client with `mcpauth clients add` on the server's
// data directory and returns its ID and secret (empty for a key-based client).
func addClient(t *testing.T, bin string, srv *servetest.Server, flags ...string) (id, secret string) {
	t.Helper()
	args := append([]string{"clients", "add", "--data", srv.DataDir}, flags...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mcpauth clients add: %v\n%s", err, out)
	}
	m := clientIDLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("mcpauth clients add printed no client_id:\n%s", out)
	}
	if s := clientSecretLine.FindSubmatch(out); s != nil {
		secret = string(s[1])
	}
	return string(m[1]), secret
}
