package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/internal/safehttp"
	"github.com/mcpauth/mcpauth/protect"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ownStack is our authorization server (dev login) and the protected example
// MCP server on one loopback origin, in this process.
type ownStack struct {
	as     *authserver.Server
	mcpURL string
}

// startOwnStack serves the stack; cimd, when set, resolves URL client IDs.
func startOwnStack(t *testing.T, cimd authserver.MetadataFetcher) *ownStack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	mcpURL := issuer + "/mcp"
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	as, err := authserver.New(t.Context(), authserver.Config{
		Issuer: issuer, ListenAddr: ln.Addr().String(), Store: st, KeyEncryptionKey: key,
		Resources:    []authserver.Resource{{URI: mcpURL, Scopes: publicserver.Scopes()}},
		DevLoginUser: "alice", CIMD: cimd, DisableCIMD: cimd == nil,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: mcpURL})
	if err != nil {
		t.Fatal(err)
	}
	p, err := protect.New(protect.Config{
		Resource: mcpURL, AuthorizationServers: []string{issuer}, Verifier: verifier,
		ScopesSupported: publicserver.Scopes(), ChallengeScopes: publicserver.Scopes(),
		ToolScopes: publicserver.ToolScopes(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := publicserver.NewServer("test")
	mux := http.NewServeMux()
	mux.Handle("/", as.Handler())
	p.Mount(mux, mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close(); as.Close() })
	return &ownStack{as: as, mcpURL: mcpURL}
}

// connectAndCall connects our client with cfg and calls weather_forecast.
func connectAndCall(t *testing.T, cfg client.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	mustCall(ctx, t, connect(ctx, t, cfg), "weather_forecast", map[string]any{"city": "Lisbon", "days": 2})
}

// TestOwnClientCIMDAgainstOwnAS: our client identifies itself by a Client ID
// Metadata Document URL; our AS fetches the document (over HTTPS, through its
// SSRF guard with this one test host allowed), nobody registers, and the
// token it issues calls a tool.
func TestOwnClientCIMDAgainstOwnAS(t *testing.T) {
	var fetched atomic.Int32
	var docURL string
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "mcpauth e2e (CIMD)",
			"redirect_uris": []string{"http://127.0.0.1/callback"},
			"grant_types":   []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none", "application_type": "native",
		})
	}))
	t.Cleanup(doc.Close)
	docURL = doc.URL + "/client.json"
	roots := x509.NewCertPool()
	roots.AddCert(doc.Certificate())
	stack := startOwnStack(t, authserver.NewCIMDFetcher(authserver.CIMDOptions{
		HTTP: safehttp.Options{RootCAs: roots, TestOnlyAllowHost: doc.Listener.Addr().String()},
	}))

	counts := oauthRequests()
	connectAndCall(t, client.Config{
		ServerURL: stack.mcpURL, ClientName: "mcpauth e2e", ClientMetadataURL: docURL,
		Store: client.NewMemoryStore(), OpenBrowser: devLoginBrowser,
		HTTPClient: &http.Client{Transport: counts},
	})
	n := counts.Take()
	if n["POST /register"] != 0 {
		t.Errorf("client registered by DCR although the AS supports CIMD: %v", n)
	}
	if n["POST /token"] != 1 {
		t.Errorf("token requests = %d, want 1 (%v)", n["POST /token"], n)
	}
	if fetched.Load() == 0 {
		t.Error("the AS never fetched the client's metadata document")
	}
}

// TestOwnClientPreRegisteredAgainstOwnAS: a public client pre-registered by
// the operator (vetted clients) logs in with its client ID alone: no
// registration request, one code exchange, a tool call.
func TestOwnClientPreRegisteredAgainstOwnAS(t *testing.T) {
	stack := startOwnStack(t, nil)
	info, secret, err := stack.as.Admin().AddClient(t.Context(), authserver.StaticClient{
		Name: "vetted desktop app", RedirectURIs: []string{"http://127.0.0.1/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		t.Fatal("a public client got a secret")
	}
	counts := oauthRequests()
	connectAndCall(t, client.Config{
		ServerURL: stack.mcpURL, ClientID: info.ID,
		Store: client.NewMemoryStore(), OpenBrowser: devLoginBrowser,
		HTTPClient: &http.Client{Transport: counts},
	})
	n := counts.Take()
	if n["POST /register"] != 0 || n["POST /token"] != 1 {
		t.Errorf("want no registration and one token request, got %v", n)
	}
}
